//! Figures for the country-archetype phase of the recommendation pipeline,
//! after Schedl et al. (2021), Figures 8 and 10–12.
//!
//! The pipeline computes everything upstream — t-SNE coordinates of the
//! countries, the OPTICS ordering, reachability distances and cluster labels,
//! and per-cluster user demographics — and hands plain numbers to this crate.
//! This crate only draws; it never clusters, embeds or aggregates anything
//! itself, so a figure is a pure function of its input:
//!
//! * [`tsne_map`] — every country drawn as its country code at its t-SNE
//!   position, coloured by OPTICS cluster, with a legend;
//! * [`reachability_plot`] — one bar per country in OPTICS order, coloured by
//!   cluster, infinite (undefined) reachability drawn as a pale bar up to the
//!   top of the axis with a black triangle marker;
//! * [`demographics_plot`] — three panels per cluster: age box plot, gender
//!   shares, mean play count per user.
//!
//! Each call returns a [`Figure`] holding the same picture twice: PNG bytes
//! (raster, for quick viewing) and an SVG document (vector, for the paper).
//! Cluster colours come from [`cluster_colour`], so one cluster has the same
//! colour in every figure.
//!
//! Empty input is not an error: the figure is drawn with its axes and a
//! "no data" note, because a pipeline run that found nothing should still
//! leave a readable picture behind. Input that cannot be drawn truthfully
//! (NaN or astronomically large coordinates, negative or NaN reachability,
//! NaN or negative play counts) is rejected with [`PlotError::InvalidInput`].
//!
//! Text is rendered with the embedded DejaVu Sans font (see
//! `fonts/LICENSE-DejaVu.txt`), so output does not depend on the fonts
//! installed on the machine that renders it.

mod common;
mod demographics;
mod map;
mod reach;

use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;

pub use common::cluster_colour;

/// Size in pixels (width, height) of the t-SNE map.
pub const MAP_SIZE: (u32, u32) = (1000, 800);
/// Size in pixels (width, height) of the reachability plot.
pub const REACHABILITY_SIZE: (u32, u32) = (1200, 500);
/// Size in pixels (width, height) of the demographics figure.
pub const DEMOGRAPHICS_SIZE: (u32, u32) = (1500, 500);

/// One rendered figure, as PNG bytes and as an SVG document of the same size.
#[derive(Clone, PartialEq, Eq)]
pub struct Figure {
    pub png: Vec<u8>,
    pub svg: String,
}

impl std::fmt::Debug for Figure {
    // The payloads are hundreds of kilobytes; a derived Debug would flood logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Figure")
            .field("png_bytes", &self.png.len())
            .field("svg_chars", &self.svg.len())
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// plotters failed while drawing (backend or font error).
    #[error("{figure}: drawing failed: {message}")]
    Draw {
        figure: &'static str,
        message: String,
    },
    /// The raster could not be encoded as PNG.
    #[error("{figure}: PNG encoding failed: {message}")]
    Encode {
        figure: &'static str,
        message: String,
    },
    /// The input contains values that cannot be drawn (e.g. NaN).
    #[error("{figure}: invalid input: {message}")]
    InvalidInput {
        figure: &'static str,
        message: String,
    },
    /// The embedded font was rejected by plotters' font registry.
    #[error("the embedded DejaVu Sans font could not be registered with plotters")]
    Font,
}

/// One country on the t-SNE map.
#[derive(Debug, Clone, PartialEq)]
pub struct MapPoint {
    pub x: f64,
    pub y: f64,
    /// Country code drawn at (x, y); an empty label is drawn as a dot.
    pub label: String,
    /// OPTICS cluster; negative values are noise.
    pub cluster: i32,
}

/// Draws the t-SNE map of countries. Coordinates must be finite and within
/// ±1e100.
pub fn tsne_map(title: &str, points: &[MapPoint]) -> Result<Figure, PlotError> {
    map::validate(points)?;
    render(&map::MapPaint { title, points })
}

/// One country of the reachability plot, given in OPTICS order.
#[derive(Debug, Clone, PartialEq)]
pub struct ReachBar {
    pub label: String,
    /// Reachability distance in `[0, 1e100]`, or `f64::INFINITY` for
    /// undefined (the first point of each OPTICS component). NaN is rejected.
    pub reachability: f64,
    pub cluster: i32,
}

/// Draws the OPTICS reachability plot, one bar per country in the given order.
pub fn reachability_plot(title: &str, bars: &[ReachBar]) -> Result<Figure, PlotError> {
    reach::validate(bars)?;
    render(&reach::ReachPaint { title, bars })
}

/// Demographics of the users of one cluster's countries.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClusterDemographics {
    /// OPTICS cluster; -1 = countries in no cluster.
    pub cluster: i32,
    pub users: u64,
    /// Known ages of the cluster's users (unknown ages left out).
    pub ages: Vec<u16>,
    pub female: u64,
    pub male: u64,
    /// Any other or unknown gender.
    pub other: u64,
    /// Average listening events per user; must be in `[0, 1e100]`.
    pub mean_plays: f64,
}

/// Draws the three demographics panels, clusters in the given order.
///
/// Age boxes span the quartiles with a line at the median; whiskers reach
/// the 5th and 95th percentiles (linear interpolation); ages beyond the
/// whiskers are not drawn. Gender shares are fractions of
/// `female + male + other`; the number above each bar is `users`.
pub fn demographics_plot(
    title: &str,
    clusters: &[ClusterDemographics],
) -> Result<Figure, PlotError> {
    demographics::validate(clusters)?;
    render(&demographics::DemographicsPaint { title, clusters })
}

/// The DejaVu Sans regular face, embedded so that text looks the same on
/// every machine and rendering never depends on system font discovery.
static FONT_BYTES: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");

fn ensure_font() -> Result<(), PlotError> {
    // plotters keeps fonts in a process-wide table; registering once is
    // enough, and doing it lazily keeps the crate free of setup calls.
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(common::FONT, FontStyle::Normal, FONT_BYTES).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(PlotError::Font)
    }
}

/// A figure that can be drawn on any plotters backend, so the PNG and the SVG
/// come from the very same drawing code.
pub(crate) trait Paint {
    const FIGURE: &'static str;
    const SIZE: (u32, u32);
    fn paint<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> common::DrawResult;
}

fn render<P: Paint>(painter: &P) -> Result<Figure, PlotError> {
    ensure_font()?;
    let draw_err = |message: String| PlotError::Draw {
        figure: P::FIGURE,
        message,
    };
    let (w, h) = P::SIZE;

    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        painter.paint(&root).map_err(draw_err)?;
        root.present().map_err(|e| draw_err(e.to_string()))?;
    }
    let png = encode_png(&rgb, w, h).map_err(|e| PlotError::Encode {
        figure: P::FIGURE,
        message: e.to_string(),
    })?;

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        painter.paint(&root).map_err(draw_err)?;
        root.present().map_err(|e| draw_err(e.to_string()))?;
    }
    Ok(Figure { png, svg })
}

fn encode_png(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(out)
}
