//! Demographics per cluster (paper Figures 11–12 style): age box plots,
//! gender shares, mean play counts, as three panels of one figure.

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::common::{
    cluster_colour, cluster_name, compact, de, draw_category_labels, draw_legend, draw_no_data,
    font, layout_category_labels, lighten, padded_range, percentile, CategoryLabels, DrawResult,
    LegendEntry, Mark, MAX_MAGNITUDE, NOISE_GREY,
};
use crate::{ClusterDemographics, Paint, PlotError, DEMOGRAPHICS_SIZE};

const FIGURE: &str = "demographics plot";
const MARGIN: u32 = 10;
const Y_LABEL_AREA: u32 = 62;
const GENDER_LEGEND_WIDTH: u32 = 120;

/// Dark, muted tones that do not occur in the cluster palette, so gender
/// segments are not mistaken for clusters.
const FEMALE: RGBColor = RGBColor(110, 52, 110);
const MALE: RGBColor = RGBColor(40, 100, 110);
const OTHER: RGBColor = RGBColor(215, 215, 215);

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

pub(crate) fn validate(clusters: &[ClusterDemographics]) -> Result<(), PlotError> {
    match clusters
        .iter()
        .find(|c| !(0.0..=MAX_MAGNITUDE).contains(&c.mean_plays))
    {
        Some(c) => Err(PlotError::InvalidInput {
            figure: FIGURE,
            message: format!(
                "cluster {} has mean_plays {} (must be within [0, 1e100])",
                c.cluster, c.mean_plays
            ),
        }),
        None => Ok(()),
    }
}

struct BoxStats {
    p5: f64,
    q1: f64,
    median: f64,
    q3: f64,
    p95: f64,
}

fn box_stats(ages: &[u16]) -> Option<BoxStats> {
    if ages.is_empty() {
        return None;
    }
    let mut v: Vec<f64> = ages.iter().map(|&a| f64::from(a)).collect();
    v.sort_by(f64::total_cmp);
    Some(BoxStats {
        p5: percentile(&v, 0.05),
        q1: percentile(&v, 0.25),
        median: percentile(&v, 0.5),
        q3: percentile(&v, 0.75),
        p95: percentile(&v, 0.95),
    })
}

pub(crate) struct DemographicsPaint<'a> {
    pub title: &'a str,
    pub clusters: &'a [ClusterDemographics],
}

impl DemographicsPaint<'_> {
    fn x_range(&self) -> std::ops::Range<f64> {
        -0.5..(self.clusters.len().max(1) as f64 - 0.5)
    }

    /// Common frame of the three panels: the category axis is set by hand
    /// (cluster names), the value axis by plotters.
    fn panel<'a, DB: DrawingBackend>(
        &self,
        area: &'a DrawingArea<DB, Shift>,
        caption: &str,
        labels: &CategoryLabels,
        y: std::ops::Range<f64>,
        y_desc: &str,
        y_fmt: &dyn Fn(&f64) -> String,
    ) -> DrawResult<Chart<'a, DB>> {
        let mut chart = ChartBuilder::on(area)
            .caption(caption, font(16.0))
            .margin(MARGIN)
            .x_label_area_size(labels.height + 26)
            .y_label_area_size(Y_LABEL_AREA)
            .build_cartesian_2d(self.x_range(), y)
            .map_err(de)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .x_desc("cluster")
            .y_desc(y_desc)
            .y_label_formatter(y_fmt)
            .label_style(font(13.0))
            .axis_desc_style(font(14.0))
            .light_line_style(WHITE)
            .bold_line_style(BLACK.mix(0.08))
            .draw()
            .map_err(de)?;
        Ok(chart)
    }

    fn cluster_labels<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        chart: &Chart<'_, DB>,
        layout: &CategoryLabels,
        names: &[String],
    ) -> DrawResult {
        let xs: Vec<i32> = (0..names.len())
            .map(|i| chart.backend_coord(&(i as f64, 0.0)).0)
            .collect();
        let y_min = chart.y_range().start;
        let axis_y = chart.backend_coord(&(0.0, y_min)).1;
        draw_category_labels(root, layout, names, &xs, axis_y + 6)
    }

    fn ages<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        area: &DrawingArea<DB, Shift>,
        layout: &CategoryLabels,
        names: &[String],
    ) -> DrawResult {
        let stats: Vec<Option<BoxStats>> =
            self.clusters.iter().map(|c| box_stats(&c.ages)).collect();
        let (lo, hi) = padded_range(
            stats.iter().flatten().flat_map(|s| [s.p5, s.p95]),
            0.08,
            (0.0, 100.0),
        );
        let y = lo.max(0.0)..hi;
        let chart = self.panel(
            area,
            "Age (box: quartiles, median; whiskers: 5th–95th pct.)",
            layout,
            y.clone(),
            "age (years)",
            &|v| format!("{v:.0}"),
        )?;
        if self.clusters.is_empty() {
            return draw_no_data(&chart.plotting_area().strip_coord_spec(), "no data");
        }
        let mid = (y.start + y.end) / 2.0;
        let area = chart.plotting_area();
        for (i, (c, s)) in self.clusters.iter().zip(&stats).enumerate() {
            let x = i as f64;
            let colour = cluster_colour(c.cluster);
            let Some(s) = s else {
                // Say why the slot is empty rather than leave a gap.
                area.draw(&Text::new(
                    "no ages",
                    (x, mid),
                    font(12.0)
                        .color(&NOISE_GREY)
                        .transform(FontTransform::Rotate270)
                        .pos(Pos::new(HPos::Center, VPos::Center)),
                ))
                .map_err(de)?;
                continue;
            };
            let line = colour.stroke_width(2);
            area.draw(&PathElement::new(vec![(x, s.p5), (x, s.q1)], line))
                .map_err(de)?;
            area.draw(&PathElement::new(vec![(x, s.q3), (x, s.p95)], line))
                .map_err(de)?;
            for cap in [s.p5, s.p95] {
                area.draw(&PathElement::new(
                    vec![(x - 0.15, cap), (x + 0.15, cap)],
                    line,
                ))
                .map_err(de)?;
            }
            area.draw(&Rectangle::new(
                [(x - 0.3, s.q1), (x + 0.3, s.q3)],
                lighten(colour, 0.55).filled(),
            ))
            .map_err(de)?;
            area.draw(&Rectangle::new([(x - 0.3, s.q1), (x + 0.3, s.q3)], line))
                .map_err(de)?;
            area.draw(&PathElement::new(
                vec![(x - 0.3, s.median), (x + 0.3, s.median)],
                BLACK.stroke_width(2),
            ))
            .map_err(de)?;
        }
        self.cluster_labels(root, &chart, layout, names)
    }

    fn gender<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        area: &DrawingArea<DB, Shift>,
        layout: &CategoryLabels,
        names: &[String],
    ) -> DrawResult {
        let (w, _) = area.dim_in_pixel();
        let (chart_area, legend_area) =
            area.split_horizontally(w.saturating_sub(GENDER_LEGEND_WIDTH));
        // Headroom above 100% for the user counts; no ticks are shown there.
        let chart = self.panel(
            &chart_area,
            "Gender share (number: users)",
            layout,
            0.0..1.1,
            "share of users",
            &|v| {
                if *v <= 1.0 + 1e-9 {
                    format!("{:.0}%", v * 100.0)
                } else {
                    String::new()
                }
            },
        )?;
        draw_legend(
            &legend_area,
            "",
            &[
                LegendEntry {
                    mark: Mark::Fill(FEMALE),
                    text: "female".into(),
                },
                LegendEntry {
                    mark: Mark::Fill(MALE),
                    text: "male".into(),
                },
                LegendEntry {
                    mark: Mark::Fill(OTHER),
                    text: "other/unkn.".into(),
                },
            ],
            45,
        )?;
        if self.clusters.is_empty() {
            return draw_no_data(&chart.plotting_area().strip_coord_spec(), "no data");
        }

        let spacing = {
            let (l, _) = chart.backend_coord(&(0.0, 0.0));
            let (r, _) = chart.backend_coord(&(1.0, 0.0));
            f64::from(r - l)
        };
        let count_style = font(12.0).pos(Pos::new(HPos::Center, VPos::Bottom));
        let area = chart.plotting_area();
        for (i, c) in self.clusters.iter().enumerate() {
            let x = i as f64;
            // In f64 because the u64 sum of absurd counts could overflow.
            let total = c.female as f64 + c.male as f64 + c.other as f64;
            if total <= 0.0 {
                area.draw(&Text::new(
                    "no users",
                    (x, 0.5),
                    font(12.0)
                        .color(&NOISE_GREY)
                        .transform(FontTransform::Rotate270)
                        .pos(Pos::new(HPos::Center, VPos::Center)),
                ))
                .map_err(de)?;
                continue;
            }
            let f = c.female as f64 / total;
            let m = c.male as f64 / total;
            for (from, to, colour) in [(0.0, f, FEMALE), (f, f + m, MALE), (f + m, 1.0, OTHER)] {
                if to > from {
                    area.draw(&Rectangle::new(
                        [(x - 0.35, from), (x + 0.35, to)],
                        colour.filled(),
                    ))
                    .map_err(de)?;
                }
            }
            let count = compact(c.users as f64);
            let fits = root
                .estimate_text_size(&count, &count_style)
                .map(|(tw, _)| f64::from(tw) <= spacing * 0.95)
                .map_err(de)?;
            if fits {
                area.draw(&Text::new(count, (x, 1.01), count_style.clone()))
                    .map_err(de)?;
            }
        }
        self.cluster_labels(root, &chart, layout, names)
    }

    fn plays<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        area: &DrawingArea<DB, Shift>,
        layout: &CategoryLabels,
        names: &[String],
    ) -> DrawResult {
        let max = self
            .clusters
            .iter()
            .map(|c| c.mean_plays)
            .fold(0.0_f64, f64::max);
        let top = if max > 0.0 { max * 1.1 } else { 1.0 };
        let chart = self.panel(
            area,
            "Mean plays per user",
            layout,
            0.0..top,
            "listening events per user",
            &|v| compact(*v),
        )?;
        if self.clusters.is_empty() {
            return draw_no_data(&chart.plotting_area().strip_coord_spec(), "no data");
        }
        let area = chart.plotting_area();
        for (i, c) in self.clusters.iter().enumerate() {
            let x = i as f64;
            area.draw(&Rectangle::new(
                [(x - 0.35, 0.0), (x + 0.35, c.mean_plays)],
                cluster_colour(c.cluster).filled(),
            ))
            .map_err(de)?;
        }
        self.cluster_labels(root, &chart, layout, names)
    }
}

impl Paint for DemographicsPaint<'_> {
    const FIGURE: &'static str = FIGURE;
    const SIZE: (u32, u32) = DEMOGRAPHICS_SIZE;

    fn paint<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        root.fill(&WHITE).map_err(de)?;
        let body = root.titled(self.title, font(26.0)).map_err(de)?;
        let panels = body.split_evenly((1, 3));
        let [ages, gender, plays] = panels.as_slice() else {
            return Err("could not split the figure into three panels".to_string());
        };

        let names: Vec<String> = self
            .clusters
            .iter()
            .map(|c| cluster_name(c.cluster))
            .collect();
        // One label layout for all panels, sized for the narrowest (gender,
        // which gives up room to its legend), so the panels line up.
        let plot_w = gender
            .dim_in_pixel()
            .0
            .saturating_sub(2 * MARGIN + Y_LABEL_AREA + GENDER_LEGEND_WIDTH);
        let spacing = f64::from(plot_w) / self.clusters.len().max(1) as f64;
        let layout = layout_category_labels(root, &names, spacing, 13.0)?;

        self.ages(root, ages, &layout, &names)?;
        self.gender(root, gender, &layout, &names)?;
        self.plays(root, plays, &layout, &names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_stats_of_known_ages() {
        let ages: Vec<u16> = (1..=21).collect();
        let s = box_stats(&ages).expect("non-empty");
        assert_eq!(s.median, 11.0);
        assert_eq!(s.q1, 6.0);
        assert_eq!(s.q3, 16.0);
        assert_eq!(s.p5, 2.0);
        assert_eq!(s.p95, 20.0);
        assert!(box_stats(&[]).is_none());
    }
}
