//! OPTICS reachability plot (paper Figure 10 style).

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::common::{
    cluster_colour, cluster_name, de, draw_category_labels, draw_legend, draw_no_data, font,
    layout_category_labels, legend_order, lighten, DrawResult, LegendEntry, Mark, MAX_MAGNITUDE,
};
use crate::{Paint, PlotError, ReachBar, REACHABILITY_SIZE};

const FIGURE: &str = "reachability plot";
const LEGEND_WIDTH: u32 = 230;
const MARGIN: u32 = 12;
const Y_LABEL_AREA: u32 = 70;

pub(crate) fn validate(bars: &[ReachBar]) -> Result<(), PlotError> {
    // +inf is OPTICS' "undefined"; NaN or negative values mean a bug upstream
    // and drawing them as something else would hide it.
    match bars.iter().find(|b| {
        let r = b.reachability;
        r.is_nan() || r < 0.0 || (r.is_finite() && r > MAX_MAGNITUDE)
    }) {
        Some(b) => Err(PlotError::InvalidInput {
            figure: FIGURE,
            message: format!(
                "bar {:?} has reachability {} (must be +inf or within [0, 1e100])",
                b.label, b.reachability
            ),
        }),
        None => Ok(()),
    }
}

pub(crate) struct ReachPaint<'a> {
    pub title: &'a str,
    pub bars: &'a [ReachBar],
}

impl Paint for ReachPaint<'_> {
    const FIGURE: &'static str = FIGURE;
    const SIZE: (u32, u32) = REACHABILITY_SIZE;

    fn paint<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        root.fill(&WHITE).map_err(de)?;
        let body = root.titled(self.title, font(26.0)).map_err(de)?;
        let (w, _) = body.dim_in_pixel();
        let (plot_area, legend_area) = body.split_horizontally(w.saturating_sub(LEGEND_WIDTH));

        let n = self.bars.len();
        let labels: Vec<String> = self.bars.iter().map(|b| b.label.clone()).collect();
        let plot_w = plot_area
            .dim_in_pixel()
            .0
            .saturating_sub(2 * MARGIN + Y_LABEL_AREA);
        let spacing = f64::from(plot_w) / n.max(1) as f64;
        let layout = layout_category_labels(root, &labels, spacing, 13.0)?;

        // Infinite bars reach the top of the axis; the finite maximum sets
        // the scale so that finite structure (the valleys) stays readable.
        let max_finite = self
            .bars
            .iter()
            .map(|b| b.reachability)
            .filter(|r| r.is_finite())
            .fold(0.0_f64, f64::max);
        let top = if max_finite > 0.0 {
            max_finite * 1.12
        } else {
            1.0
        };

        let mut chart = ChartBuilder::on(&plot_area)
            .margin(MARGIN)
            .x_label_area_size(layout.height + 24)
            .y_label_area_size(Y_LABEL_AREA)
            .build_cartesian_2d(-0.5..(n.max(1) as f64 - 0.5), 0.0..top)
            .map_err(de)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .x_desc("countries in OPTICS order")
            .y_desc("reachability distance")
            .label_style(font(13.0))
            .axis_desc_style(font(15.0))
            .light_line_style(WHITE)
            .bold_line_style(BLACK.mix(0.08))
            .draw()
            .map_err(de)?;

        if n == 0 {
            return draw_no_data(&chart.plotting_area().strip_coord_spec(), "no data");
        }

        let mut any_infinite = false;
        for (i, b) in self.bars.iter().enumerate() {
            let x = i as f64;
            let colour = cluster_colour(b.cluster);
            let corners = [(x - 0.4, 0.0), (x + 0.4, b.reachability.min(top))];
            if b.reachability.is_finite() {
                chart
                    .draw_series(std::iter::once(Rectangle::new(corners, colour.filled())))
                    .map_err(de)?;
            } else {
                any_infinite = true;
                chart
                    .draw_series([
                        Rectangle::new(corners, lighten(colour, 0.6).filled()),
                        Rectangle::new(corners, colour.stroke_width(1)),
                    ])
                    .map_err(de)?;
                // An arrowhead above the axis says "continues beyond the
                // scale"; it is sized in pixels (and may be wider than a thin
                // bar) so it stays visible however many bars share the width.
                let (left, _) = chart.backend_coord(&(x - 0.4, top));
                let (right, y) = chart.backend_coord(&(x + 0.4, top));
                let cx = (left + right) / 2;
                let half = ((right - left) / 2).clamp(3, 5);
                root.draw(&Polygon::new(
                    vec![(cx, y - 9), (cx - half, y - 1), (cx + half, y - 1)],
                    BLACK.filled(),
                ))
                .map_err(de)?;
            }
        }

        let xs: Vec<i32> = (0..n)
            .map(|i| chart.backend_coord(&(i as f64, 0.0)).0)
            .collect();
        let axis_y = chart.backend_coord(&(0.0, 0.0)).1;
        draw_category_labels(root, &layout, &labels, &xs, axis_y + 6)?;

        let mut entries: Vec<LegendEntry> = legend_order(self.bars.iter().map(|b| b.cluster))
            .into_iter()
            .map(|(c, n)| LegendEntry {
                mark: Mark::Fill(cluster_colour(c)),
                text: format!("{} ({n})", cluster_name(c)),
            })
            .collect();
        if any_infinite {
            entries.push(LegendEntry {
                mark: Mark::Infinite,
                text: "undefined (∞), cut at top".to_string(),
            });
        }
        draw_legend(&legend_area, "OPTICS cluster", &entries, 20)
    }
}
