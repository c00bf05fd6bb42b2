//! t-SNE map of countries (paper Figure 8 style).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::common::{
    cluster_colour, cluster_name, de, draw_legend, draw_no_data, font, legend_order, padded_range,
    DrawResult, LegendEntry, Mark, MAX_MAGNITUDE,
};
use crate::{MapPoint, Paint, PlotError, MAP_SIZE};

const FIGURE: &str = "t-SNE map";
const LEGEND_WIDTH: u32 = 190;

pub(crate) fn validate(points: &[MapPoint]) -> Result<(), PlotError> {
    let drawable = |v: f64| v.is_finite() && v.abs() <= MAX_MAGNITUDE;
    match points.iter().find(|p| !drawable(p.x) || !drawable(p.y)) {
        Some(p) => Err(PlotError::InvalidInput {
            figure: FIGURE,
            message: format!(
                "point {:?} has coordinates ({}, {}); they must be finite and within ±1e100",
                p.label, p.x, p.y
            ),
        }),
        None => Ok(()),
    }
}

pub(crate) struct MapPaint<'a> {
    pub title: &'a str,
    pub points: &'a [MapPoint],
}

impl Paint for MapPaint<'_> {
    const FIGURE: &'static str = FIGURE;
    const SIZE: (u32, u32) = MAP_SIZE;

    fn paint<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        root.fill(&WHITE).map_err(de)?;
        let body = root.titled(self.title, font(26.0)).map_err(de)?;
        let (w, _) = body.dim_in_pixel();
        let (plot_area, legend_area) = body.split_horizontally(w.saturating_sub(LEGEND_WIDTH));

        // Labels extend beyond their anchor point, hence the generous margin.
        let xs = padded_range(self.points.iter().map(|p| p.x), 0.06, (-1.0, 1.0));
        let ys = padded_range(self.points.iter().map(|p| p.y), 0.04, (-1.0, 1.0));
        let mut chart = ChartBuilder::on(&plot_area)
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(xs.0..xs.1, ys.0..ys.1)
            .map_err(de)?;
        chart
            .configure_mesh()
            .x_desc("t-SNE dimension 1")
            .y_desc("t-SNE dimension 2")
            .label_style(font(13.0))
            .axis_desc_style(font(15.0))
            .light_line_style(WHITE)
            .bold_line_style(BLACK.mix(0.08))
            .draw()
            .map_err(de)?;

        if self.points.is_empty() {
            return draw_no_data(&chart.plotting_area().strip_coord_spec(), "no data");
        }

        // Noise first, so cluster members are drawn on top where they overlap.
        let mut order: Vec<&MapPoint> = self.points.iter().collect();
        order.sort_by_key(|p| p.cluster >= 0);
        let center = Pos::new(HPos::Center, VPos::Center);
        for p in order {
            let colour = cluster_colour(p.cluster);
            if p.label.is_empty() {
                chart
                    .draw_series(std::iter::once(Circle::new((p.x, p.y), 4, colour.filled())))
                    .map_err(de)?;
            } else {
                chart
                    .draw_series(std::iter::once(Text::new(
                        p.label.clone(),
                        (p.x, p.y),
                        font(17.0).color(&colour).pos(center),
                    )))
                    .map_err(de)?;
            }
        }

        let entries: Vec<LegendEntry> = legend_order(self.points.iter().map(|p| p.cluster))
            .into_iter()
            .map(|(c, n)| LegendEntry {
                mark: Mark::Fill(cluster_colour(c)),
                text: format!(
                    "{} ({n} {})",
                    cluster_name(c),
                    if n == 1 { "country" } else { "countries" }
                ),
            })
            .collect();
        draw_legend(&legend_area, "OPTICS cluster", &entries, 20)
    }
}
