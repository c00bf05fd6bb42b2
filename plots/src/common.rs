//! Pieces shared by the three figures: palette, legend, category axis labels,
//! axis ranges and small number helpers.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Drawing code reports plotters' errors as text; `render` attaches the
/// figure name, which is what a caller needs to know.
pub(crate) type DrawResult<T = ()> = Result<T, String>;

pub(crate) fn de<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Family name under which the embedded font is registered; plotters'
/// `FontFamily::SansSerif` resolves to this name.
pub(crate) const FONT: &str = "sans-serif";

/// Largest magnitude accepted for drawn values. Far beyond anything the
/// pipeline produces, but small enough that padding an axis range can never
/// overflow to infinity (which plotters cannot lay out).
pub(crate) const MAX_MAGNITUDE: f64 = 1e100;

/// Grey for noise, shared by all figures.
pub(crate) const NOISE_GREY: RGBColor = RGBColor(128, 128, 128);

/// Tableau 10 without its grey, which is reserved for noise so that noise can
/// never be confused with a real cluster.
const PALETTE: [RGBColor; 9] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Colour of a cluster, shared by all figures.
///
/// Negative clusters (OPTICS noise, -1) are grey; clusters `0, 1, …` cycle
/// through a fixed nine-colour qualitative palette (Tableau 10 minus grey),
/// so cluster 9 has the colour of cluster 0.
pub fn cluster_colour(cluster: i32) -> RGBColor {
    match usize::try_from(cluster) {
        Ok(c) => PALETTE[c % PALETTE.len()],
        Err(_) => NOISE_GREY,
    }
}

/// Short name used on axes and in legends.
pub(crate) fn cluster_name(cluster: i32) -> String {
    if cluster < 0 {
        "noise".to_string()
    } else {
        format!("C{cluster}")
    }
}

/// Distinct clusters in display order: real clusters ascending, noise last
/// (noise is the least interesting group, so it should not lead the legend).
pub(crate) fn legend_order(clusters: impl Iterator<Item = i32>) -> Vec<(i32, usize)> {
    let mut counts = std::collections::BTreeMap::<i32, usize>::new();
    for c in clusters {
        // All negative ids share the noise colour, so they share one entry.
        *counts.entry(c.max(-1)).or_default() += 1;
    }
    let mut out: Vec<(i32, usize)> = counts.into_iter().collect();
    out.sort_by_key(|&(c, _)| (c < 0, c));
    out
}

/// Moves a colour towards white by `t` in `[0, 1]`.
pub(crate) fn lighten(c: RGBColor, t: f64) -> RGBColor {
    let f = |v: u8| (f64::from(v) + (255.0 - f64::from(v)) * t).round() as u8;
    RGBColor(f(c.0), f(c.1), f(c.2))
}

pub(crate) fn font(size: f64) -> TextStyle<'static> {
    TextStyle::from((FONT, size).into_font())
}

/// Axis range covering all values with a margin on both sides. A degenerate
/// range (one value, or all equal) is widened, because plotters cannot map
/// an empty interval; no values gives `default`.
pub(crate) fn padded_range(
    values: impl Iterator<Item = f64>,
    frac: f64,
    default: (f64, f64),
) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if lo > hi {
        return default;
    }
    let span = hi - lo;
    let scale = lo.abs().max(hi.abs()).max(1.0);
    if span <= scale * 1e-9 {
        let pad = (scale * 0.1).max(1.0);
        (lo - pad, hi + pad)
    } else {
        (lo - span * frac, hi + span * frac)
    }
}

/// Percentile with linear interpolation between closest ranks (the default
/// of numpy and R type 7). `sorted` must be non-empty and ascending.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    match sorted {
        [] => f64::NAN,
        [only] => *only,
        _ => {
            let rank = p.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
            let below = rank.floor() as usize;
            let above = (below + 1).min(sorted.len() - 1);
            let w = rank - below as f64;
            sorted[below] * (1.0 - w) + sorted[above] * w
        }
    }
}

/// Number with k/M suffix, for axis ticks and bar annotations where width is
/// scarce.
pub(crate) fn compact(v: f64) -> String {
    let a = v.abs();
    let s = if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    s.replace(".0k", "k").replace(".0M", "M")
}

pub(crate) enum Mark {
    Fill(RGBColor),
    /// Pale bar with a black triangle: how infinite reachability is drawn.
    Infinite,
}

pub(crate) struct LegendEntry {
    pub mark: Mark,
    pub text: String,
}

const LEGEND_ROW: i32 = 22;

/// Vertical legend in its own strip, so it never hides data.
pub(crate) fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    heading: &str,
    entries: &[LegendEntry],
    top: i32,
) -> DrawResult {
    let (_, h) = area.dim_in_pixel();
    let h = i32::try_from(h).unwrap_or(i32::MAX);
    let left_center = Pos::new(HPos::Left, VPos::Center);
    let mut y = top;
    if !heading.is_empty() {
        area.draw(&Text::new(
            heading.to_string(),
            (6, y + 7),
            font(15.0).pos(left_center),
        ))
        .map_err(de)?;
        y += LEGEND_ROW + 2;
    }
    for (i, entry) in entries.iter().enumerate() {
        // Leave room for the "more" line rather than drawing past the edge.
        if y + 2 * LEGEND_ROW > h && i + 1 < entries.len() {
            area.draw(&Text::new(
                format!("… {} more", entries.len() - i),
                (30, y + 7),
                font(14.0).pos(left_center),
            ))
            .map_err(de)?;
            break;
        }
        match entry.mark {
            Mark::Fill(c) => {
                area.draw(&Rectangle::new([(8, y), (22, y + 14)], c.filled()))
                    .map_err(de)?;
            }
            Mark::Infinite => {
                area.draw(&Rectangle::new(
                    [(8, y), (22, y + 14)],
                    lighten(NOISE_GREY, 0.6).filled(),
                ))
                .map_err(de)?;
                area.draw(&Rectangle::new([(8, y), (22, y + 14)], NOISE_GREY))
                    .map_err(de)?;
                area.draw(&Polygon::new(
                    vec![(15, y + 2), (10, y + 10), (20, y + 10)],
                    BLACK.filled(),
                ))
                .map_err(de)?;
            }
        }
        area.draw(&Text::new(
            entry.text.clone(),
            (30, y + 7),
            font(14.0).pos(left_center),
        ))
        .map_err(de)?;
        y += LEGEND_ROW;
    }
    Ok(())
}

/// How category labels under a bar chart are set: horizontal when they fit
/// the bar spacing, otherwise turned to read bottom-to-top, shrunk, and
/// thinned to every `step`-th label when even that does not fit.
pub(crate) struct CategoryLabels {
    rotated: bool,
    size: f64,
    step: usize,
    /// Pixels the labels need below the axis.
    pub height: u32,
}

const MAX_LABEL_HEIGHT: u32 = 140;

pub(crate) fn layout_category_labels<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    labels: &[String],
    spacing: f64,
    max_size: f64,
) -> DrawResult<CategoryLabels> {
    let widest = |size: f64| -> DrawResult<u32> {
        let style = font(size);
        let mut widest = 0;
        for l in labels {
            widest = widest.max(area.estimate_text_size(l, &style).map_err(de)?.0);
        }
        Ok(widest)
    };
    if f64::from(widest(max_size)?) <= spacing * 0.9 {
        return Ok(CategoryLabels {
            rotated: false,
            size: max_size,
            step: 1,
            height: max_size.ceil() as u32 + 8,
        });
    }
    let size = (spacing * 0.95).clamp(8.0, max_size);
    // Rotated glyph rows are about `size` pixels thick; skip labels rather
    // than let neighbours overprint each other.
    let step = if spacing > 0.0 {
        ((size * 1.05) / spacing).ceil().max(1.0) as usize
    } else {
        1
    };
    Ok(CategoryLabels {
        rotated: true,
        size,
        step,
        // Absurdly long labels are cut rather than squeezing the plot away.
        height: (widest(size)? + 10).min(MAX_LABEL_HEIGHT),
    })
}

/// Draws `labels[i]` under pixel column `xs[i]`, starting at pixel row `y`.
/// Coordinates are backend pixels, so `root` must be the figure's root area.
pub(crate) fn draw_category_labels<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    layout: &CategoryLabels,
    labels: &[String],
    xs: &[i32],
    y: i32,
) -> DrawResult {
    let style = if layout.rotated {
        font(layout.size)
            .transform(FontTransform::Rotate270)
            .pos(Pos::new(HPos::Right, VPos::Center))
    } else {
        font(layout.size).pos(Pos::new(HPos::Center, VPos::Top))
    };
    for (i, (label, &x)) in labels.iter().zip(xs).enumerate() {
        if i % layout.step != 0 {
            continue;
        }
        root.draw(&Text::new(label.clone(), (x, y), style.clone()))
            .map_err(de)?;
    }
    Ok(())
}

/// "no data" in the middle of an empty chart, so an empty figure explains
/// itself instead of looking broken.
pub(crate) fn draw_no_data<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
) -> DrawResult {
    let (w, h) = area.dim_in_pixel();
    let center = (
        i32::try_from(w / 2).unwrap_or(0),
        i32::try_from(h / 2).unwrap_or(0),
    );
    area.draw(&Text::new(
        text.to_string(),
        center,
        font(20.0)
            .color(&NOISE_GREY)
            .pos(Pos::new(HPos::Center, VPos::Center)),
    ))
    .map_err(de)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_interpolates_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 1.0), 4.0);
        assert!((percentile(&v, 0.5) - 2.5).abs() < 1e-12);
        assert!((percentile(&v, 0.25) - 1.75).abs() < 1e-12);
        assert!((percentile(&v, 0.95) - 3.85).abs() < 1e-12);
        assert_eq!(percentile(&[7.0], 0.05), 7.0);
    }

    #[test]
    fn padded_range_widens_degenerate_input() {
        let (lo, hi) = padded_range([3.0, 3.0].into_iter(), 0.05, (0.0, 1.0));
        assert!(lo < 3.0 && hi > 3.0);
        assert_eq!(
            padded_range(std::iter::empty(), 0.05, (0.0, 1.0)),
            (0.0, 1.0)
        );
        let (lo, hi) = padded_range([0.0, 10.0].into_iter(), 0.1, (0.0, 1.0));
        assert!((lo + 1.0).abs() < 1e-12 && (hi - 11.0).abs() < 1e-12);
    }

    #[test]
    fn palette_cycles_and_noise_is_grey() {
        assert_eq!(cluster_colour(-1), NOISE_GREY);
        assert_eq!(cluster_colour(-7), NOISE_GREY);
        assert_eq!(cluster_colour(0), cluster_colour(9));
        assert_ne!(cluster_colour(0), cluster_colour(1));
        assert!((0..9).all(|c| cluster_colour(c) != NOISE_GREY));
    }

    #[test]
    fn compact_numbers() {
        assert_eq!(compact(950.0), "950");
        assert_eq!(compact(1200.0), "1.2k");
        assert_eq!(compact(2000.0), "2k");
        assert_eq!(compact(45_000.0), "45k");
        assert_eq!(compact(3_000_000.0), "3M");
        assert_eq!(compact(0.5), "0.50");
    }

    #[test]
    fn legend_order_puts_noise_last() {
        let order = legend_order([2, -1, 0, 2, -3].into_iter());
        assert_eq!(order, vec![(0, 1), (2, 2), (-1, 2)]);
    }
}
