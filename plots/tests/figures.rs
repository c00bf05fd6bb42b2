//! End-to-end checks of the three figures through the public API.

use archetype_plots::{
    cluster_colour, demographics_plot, reachability_plot, tsne_map, ClusterDemographics, Figure,
    MapPoint, PlotError, ReachBar, DEMOGRAPHICS_SIZE, MAP_SIZE, REACHABILITY_SIZE,
};
use plotters::style::RGBColor;

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

const CODES: [&str; 24] = [
    "US", "GB", "DE", "FR", "SE", "NO", "FI", "PL", "RU", "UA", "BR", "MX", "AR", "CL", "JP", "KR",
    "ID", "AU", "NZ", "NL", "BE", "ES", "IT", "CZ",
];

/// Decoded PNG as (width, height, RGB bytes); fails the test on a bad file.
fn decode(png: &[u8]) -> (u32, u32, Vec<u8>) {
    assert!(png.starts_with(&PNG_SIGNATURE), "missing PNG signature");
    let decoder = png::Decoder::new(png);
    let mut reader = decoder.read_info().expect("PNG header decodes");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("PNG frame decodes");
    assert_eq!(info.color_type, png::ColorType::Rgb);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

/// Contents of all `<text>` elements; plotters puts the text on its own line.
fn svg_texts(svg: &str) -> Vec<&str> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| t.split_once('>'))
        .filter_map(|(_, rest)| rest.split_once("</text>"))
        .map(|(text, _)| text.trim())
        .collect()
}

fn svg_has_text(svg: &str, text: &str) -> bool {
    svg_texts(svg).contains(&text)
}

fn count_colour(rgb: &[u8], c: RGBColor) -> usize {
    rgb.chunks_exact(3)
        .filter(|p| p[0] == c.0 && p[1] == c.1 && p[2] == c.2)
        .count()
}

fn assert_png_size(fig: &Figure, size: (u32, u32)) -> Vec<u8> {
    let (w, h, rgb) = decode(&fig.png);
    assert_eq!((w, h), size);
    rgb
}

/// Every number in every SVG attribute must be a plausible pixel value: an
/// infinite value leaking into a coordinate shows up as NaN/inf or as a
/// saturated i32 such as 2147483647.
fn assert_svg_coordinates_finite(svg: &str, size: (u32, u32)) {
    let bound = 10.0 * f64::from(size.0.max(size.1));
    let mut checked = 0;
    for value in svg.split("=\"").skip(1).filter_map(|s| s.split('"').next()) {
        if value.starts_with('#') {
            continue; // colour, not a coordinate
        }
        assert!(
            !value.contains("NaN") && !value.contains("inf"),
            "non-finite attribute value {value:?}"
        );
        for token in value.split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-')) {
            if let Ok(v) = token.parse::<f64>() {
                assert!(
                    v.is_finite() && v.abs() <= bound,
                    "implausible coordinate {v} in {value:?}"
                );
                checked += 1;
            }
        }
    }
    assert!(
        checked > 100,
        "too few numbers found ({checked}); is this SVG?"
    );
}

fn map_points(with_noise: bool) -> Vec<MapPoint> {
    CODES
        .iter()
        .enumerate()
        .map(|(i, code)| {
            let cluster = (i % 4) as i32;
            let cluster = if with_noise && cluster == 3 {
                -1
            } else {
                cluster
            };
            let angle = i as f64 * 0.7;
            MapPoint {
                x: 30.0 * angle.cos() + 10.0 * f64::from(cluster),
                y: 20.0 * angle.sin() - 5.0 * f64::from(cluster),
                label: (*code).to_string(),
                cluster,
            }
        })
        .collect()
}

fn reach_bars() -> Vec<ReachBar> {
    CODES
        .iter()
        .enumerate()
        .map(|(i, code)| ReachBar {
            label: (*code).to_string(),
            reachability: if i == 0 {
                f64::INFINITY
            } else {
                0.2 + 0.05 * (i % 5) as f64
            },
            cluster: if i % 7 == 6 { -1 } else { (i / 8) as i32 },
        })
        .collect()
}

fn demographics() -> Vec<ClusterDemographics> {
    (-1..4)
        .map(|c| ClusterDemographics {
            cluster: c,
            users: 1000 + 250 * c.unsigned_abs() as u64,
            ages: (0..200)
                .map(|i: i32| 16 + (i * 7 + c * 3).rem_euclid(40) as u16)
                .collect(),
            female: 300 + 10 * c.unsigned_abs() as u64,
            male: 600,
            other: 100,
            mean_plays: 5000.0 + 1500.0 * f64::from(c + 1),
        })
        .collect()
}

#[test]
fn tsne_map_png_and_svg_are_well_formed() {
    let fig = tsne_map("Country map (t-SNE)", &map_points(true)).expect("map renders");
    assert_png_size(&fig, MAP_SIZE);
    assert!(fig.svg.starts_with("<svg"));
    assert!(svg_has_text(&fig.svg, "Country map (t-SNE)"));
    for code in CODES {
        assert!(
            svg_has_text(&fig.svg, code),
            "label {code} missing from SVG"
        );
    }
    assert_svg_coordinates_finite(&fig.svg, MAP_SIZE);
}

#[test]
fn tsne_map_uses_cluster_colours() {
    let points: Vec<MapPoint> = map_points(false)
        .into_iter()
        .filter(|p| p.cluster != 1)
        .collect();
    let rgb = assert_png_size(&tsne_map("map", &points).expect("renders"), MAP_SIZE);
    assert!(count_colour(&rgb, cluster_colour(0)) > 0);
    assert!(count_colour(&rgb, cluster_colour(2)) > 0);
    // A cluster that is not in the data must leave no trace.
    assert_eq!(count_colour(&rgb, cluster_colour(1)), 0);
}

#[test]
fn tsne_map_draws_noise_in_grey() {
    // Anti-aliased black text produces every grey level, so compare against
    // the same map without noise instead of expecting zero.
    let grey = cluster_colour(-1);
    let with = assert_png_size(
        &tsne_map("map", &map_points(true)).expect("renders"),
        MAP_SIZE,
    );
    let without = assert_png_size(
        &tsne_map("map", &map_points(false)).expect("renders"),
        MAP_SIZE,
    );
    let (with, without) = (count_colour(&with, grey), count_colour(&without, grey));
    assert!(
        with > without + 100,
        "noise grey pixels: {with} with noise, {without} without"
    );
}

#[test]
fn tsne_map_edge_cases() {
    let empty = tsne_map("empty map", &[]).expect("empty input draws an empty chart");
    assert_png_size(&empty, MAP_SIZE);
    assert!(empty.svg.contains("no data"));

    let one = MapPoint {
        x: 3.0,
        y: -2.0,
        label: "AT".into(),
        cluster: 0,
    };
    let single = tsne_map("one", std::slice::from_ref(&one)).expect("single point");
    assert!(svg_has_text(&single.svg, "AT"));
    assert_svg_coordinates_finite(&single.svg, MAP_SIZE);

    let same: Vec<MapPoint> = ["AT", "CH", "LI"]
        .iter()
        .map(|l| MapPoint {
            label: (*l).into(),
            ..one.clone()
        })
        .collect();
    let fig = tsne_map("same", &same).expect("all-equal coordinates");
    assert_svg_coordinates_finite(&fig.svg, MAP_SIZE);

    let unlabelled = MapPoint {
        label: String::new(),
        ..one.clone()
    };
    tsne_map("dot", &[unlabelled]).expect("empty label is drawn as a dot");

    let far: Vec<MapPoint> = [-1e99, 1e99]
        .iter()
        .map(|&x| MapPoint { x, ..one.clone() })
        .collect();
    let fig = tsne_map("far apart", &far).expect("huge but finite coordinates");
    assert_svg_coordinates_finite(&fig.svg, MAP_SIZE);

    for x in [f64::NAN, f64::INFINITY, 1e300] {
        let bad = MapPoint { x, ..one.clone() };
        let err = tsne_map("bad", &[bad]).expect_err("undrawable coordinate is rejected");
        assert!(matches!(err, PlotError::InvalidInput { .. }), "{err}");
        assert!(err.to_string().contains("t-SNE map"));
    }
}

#[test]
fn reachability_plot_png_and_svg_are_well_formed() {
    let bars = reach_bars();
    let fig = reachability_plot("OPTICS reachability", &bars).expect("renders");
    assert_png_size(&fig, REACHABILITY_SIZE);
    assert!(fig.svg.contains("OPTICS reachability"));
    for b in &bars {
        assert!(
            svg_has_text(&fig.svg, &b.label),
            "label {} missing",
            b.label
        );
    }
    assert!(
        fig.svg.contains("undefined (∞)"),
        "legend must explain infinite bars"
    );
}

#[test]
fn reachability_infinite_values_stay_finite_in_svg() {
    let fig = reachability_plot("one infinite", &reach_bars()).expect("renders");
    assert_svg_coordinates_finite(&fig.svg, REACHABILITY_SIZE);

    let all_inf: Vec<ReachBar> = reach_bars()
        .into_iter()
        .map(|b| ReachBar {
            reachability: f64::INFINITY,
            ..b
        })
        .collect();
    let fig = reachability_plot("all infinite", &all_inf).expect("all infinite renders");
    assert_png_size(&fig, REACHABILITY_SIZE);
    assert_svg_coordinates_finite(&fig.svg, REACHABILITY_SIZE);
}

#[test]
fn reachability_bars_use_cluster_colours() {
    let rgb = assert_png_size(
        &reachability_plot("colours", &reach_bars()).expect("renders"),
        REACHABILITY_SIZE,
    );
    for c in 0..3 {
        assert!(
            count_colour(&rgb, cluster_colour(c)) > 0,
            "cluster {c} colour missing"
        );
    }
    assert_eq!(count_colour(&rgb, cluster_colour(5)), 0);
}

#[test]
fn reachability_edge_cases() {
    let fig = reachability_plot("empty", &[]).expect("empty input draws an empty chart");
    assert!(fig.svg.contains("no data"));
    assert_png_size(&fig, REACHABILITY_SIZE);

    let single = ReachBar {
        label: "SE".into(),
        reachability: f64::INFINITY,
        cluster: -1,
    };
    let fig = reachability_plot("single", std::slice::from_ref(&single)).expect("single bar");
    assert_svg_coordinates_finite(&fig.svg, REACHABILITY_SIZE);

    let zeros: Vec<ReachBar> = (0..3)
        .map(|_| ReachBar {
            reachability: 0.0,
            ..single.clone()
        })
        .collect();
    reachability_plot("zeros", &zeros).expect("all-zero reachability renders");

    // Many countries: labels must be thinned, not crash.
    let many: Vec<ReachBar> = (0..400)
        .map(|i| ReachBar {
            label: format!("{i:03}"),
            reachability: f64::from(i % 17),
            cluster: i / 50,
        })
        .collect();
    reachability_plot("many", &many).expect("400 bars render");

    let long = ReachBar {
        label: "a very long country name indeed ".repeat(20),
        ..single.clone()
    };
    reachability_plot("long label", &[long]).expect("overlong label renders");

    let huge = ReachBar {
        reachability: 1e99,
        ..single.clone()
    };
    reachability_plot("huge", &[huge]).expect("huge finite reachability renders");

    for bad in [f64::NAN, -0.5, 1e300] {
        let err = reachability_plot(
            "bad",
            &[ReachBar {
                reachability: bad,
                ..single.clone()
            }],
        )
        .expect_err("NaN or negative reachability is rejected");
        assert!(matches!(err, PlotError::InvalidInput { .. }), "{err}");
        assert!(err.to_string().contains("reachability plot"));
    }
}

#[test]
fn demographics_plot_png_and_svg_are_well_formed() {
    let fig = demographics_plot("Users per archetype", &demographics()).expect("renders");
    let rgb = assert_png_size(&fig, DEMOGRAPHICS_SIZE);
    assert!(fig.svg.contains("Users per archetype"));
    for name in ["noise", "C0", "C1", "C2", "C3"] {
        assert!(svg_has_text(&fig.svg, name), "cluster {name} missing");
    }
    for legend in ["female", "male", "other/unkn."] {
        assert!(svg_has_text(&fig.svg, legend), "legend {legend} missing");
    }
    // Play-count bars are cluster coloured, noise included.
    for c in -1..4 {
        assert!(
            count_colour(&rgb, cluster_colour(c)) > 0,
            "cluster {c} colour missing"
        );
    }
    assert_svg_coordinates_finite(&fig.svg, DEMOGRAPHICS_SIZE);
}

#[test]
fn demographics_edge_cases() {
    let fig = demographics_plot("empty", &[]).expect("empty input draws empty panels");
    assert_png_size(&fig, DEMOGRAPHICS_SIZE);
    assert_eq!(fig.svg.matches("no data").count(), 3);

    let mut clusters = demographics();
    clusters[1].ages.clear();
    clusters[2] = ClusterDemographics {
        cluster: 7,
        ..ClusterDemographics::default()
    };
    let fig = demographics_plot("gaps", &clusters).expect("missing ages and users render");
    assert!(fig.svg.contains("no ages"));
    assert!(fig.svg.contains("no users"));
    assert_svg_coordinates_finite(&fig.svg, DEMOGRAPHICS_SIZE);

    let none_known: Vec<ClusterDemographics> = demographics()
        .into_iter()
        .map(|c| ClusterDemographics {
            ages: Vec::new(),
            ..c
        })
        .collect();
    demographics_plot("no ages at all", &none_known).expect("no known ages anywhere");

    let single = ClusterDemographics {
        cluster: 0,
        users: 1,
        ages: vec![30],
        female: 1,
        male: 0,
        other: 0,
        mean_plays: 0.0,
    };
    demographics_plot("single", std::slice::from_ref(&single)).expect("single user");

    let err = demographics_plot(
        "bad",
        &[ClusterDemographics {
            mean_plays: f64::NAN,
            ..single
        }],
    )
    .expect_err("NaN mean plays is rejected");
    assert!(err.to_string().contains("demographics plot"), "{err}");
}

/// Writes sample PNG/SVG files for eyeballing when PLOTS_SAMPLE_DIR is set;
/// a plain test run writes nothing.
#[test]
fn write_samples_when_asked() {
    let Some(dir) = std::env::var_os("PLOTS_SAMPLE_DIR") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).expect("sample dir");
    let figures = [
        (
            "map",
            tsne_map("Countries (t-SNE, OPTICS clusters)", &map_points(true)),
        ),
        (
            "reachability",
            reachability_plot("OPTICS reachability", &reach_bars()),
        ),
        (
            "demographics",
            demographics_plot("Demographics per cluster", &demographics()),
        ),
        ("map_empty", tsne_map("Empty map", &[])),
        ("reachability_many", {
            let many: Vec<ReachBar> = (0..150)
                .map(|i| ReachBar {
                    label: format!(
                        "{}{}",
                        char::from(b'A' + (i % 26) as u8),
                        char::from(b'A' + (i / 26) as u8)
                    ),
                    reachability: if i % 40 == 0 {
                        f64::INFINITY
                    } else {
                        0.5 + f64::from(i % 13) / 10.0
                    },
                    cluster: if i % 11 == 0 { -1 } else { i / 20 },
                })
                .collect();
            reachability_plot("150 countries", &many)
        }),
        ("demographics_gaps", {
            let mut c = demographics();
            c[1].ages.clear();
            c[2] = ClusterDemographics {
                cluster: 7,
                ..ClusterDemographics::default()
            };
            demographics_plot("Demographics with gaps", &c)
        }),
    ];
    for (name, fig) in figures {
        let fig = fig.expect("sample renders");
        std::fs::write(dir.join(format!("{name}.png")), &fig.png).expect("write png");
        std::fs::write(dir.join(format!("{name}.svg")), &fig.svg).expect("write svg");
    }
}
