//! People from posts (DESIGN §9, "People from posts"): the linear model
//! `people = a + b·u` of Botta, Moat & Preis (2015) between a zone's distinct
//! contributors `u` and counted attendance, fitted by ordinary least squares
//! over recent head-counts, with a 90 % prediction interval; and the prior
//! `people = k·u` until there is enough to fit.
//!
//! Pure: the caller reads the calibration pairs and the contributors from
//! the engine and hands them here.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// One calibration: a counted crowd beside the distinct contributors the
/// zone had over the estimate window when it was counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalibrationPair {
    /// Distinct contributors in the estimate window.
    pub u: u64,
    /// People counted (a commander's `crowd_estimate` or a head-count).
    pub people: u64,
}

/// A calibration pair with the Unix time (seconds) it was counted at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimedPair {
    /// When the crowd was counted, Unix seconds.
    pub at: i64,
    /// The count and the contributors beside it.
    pub pair: CalibrationPair,
}

/// Which pairs are recent enough to fit: the newest `max_pairs` not older
/// than `max_age_secs`. Old counts describe an earlier crowd and an earlier
/// share of posters in it, so the fit forgets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recency {
    /// At most this many pairs, the newest first.
    pub max_pairs: usize,
    /// No pair counted longer ago than this.
    pub max_age_secs: i64,
}

impl Default for Recency {
    /// DESIGN §9: the last 50 within 6 h.
    fn default() -> Self {
        Self {
            max_pairs: 50,
            max_age_secs: 6 * 3600,
        }
    }
}

/// The pairs a fit at Unix time `now` uses, newest first.
///
/// A pair stamped after `now` is kept as if just counted: nodes' clocks
/// differ by a little, and a head-count that has just arrived must not be
/// dropped for it.
pub fn recent_pairs(pairs: &[TimedPair], now: i64, recency: Recency) -> Vec<CalibrationPair> {
    let mut recent: Vec<&TimedPair> = pairs
        .iter()
        .filter(|p| now.saturating_sub(p.at) <= recency.max_age_secs)
        .collect();
    recent.sort_by_key(|p| std::cmp::Reverse(p.at));
    recent.into_iter().take(recency.max_pairs).map(|p| p.pair).collect()
}

/// The two-sided coverage of every interval: DESIGN §9's 90 %.
const COVERAGE: f64 = 0.90;

/// An ordinary least squares fit of `people = a + b·u`. Exists only when
/// there was enough to fit: at least 3 pairs with two distinct `u`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Fit {
    /// Intercept: people when nobody posts.
    pub a: f64,
    /// Slope: people per distinct contributor.
    pub b: f64,
    /// Standard error of `a`.
    pub se_a: f64,
    /// Standard error of `b`.
    pub se_b: f64,
    /// Share of the counts' variance the line explains; 1 when the counts
    /// do not vary at all (the line then fits them exactly).
    pub r2: f64,
    /// Pairs fitted.
    pub n: usize,
    /// Leave-one-out mean absolute percentage error, in percent (12.5 means
    /// 12.5 %): each pair predicted by the fit of the others, so that it
    /// says how far off a new count is likely to be, not how well the line
    /// passes through points it was drawn through. `None` when no pair
    /// can be left out (every pair is either a count of 0 or the only
    /// one holding the fit up).
    pub loo_mape: Option<f64>,
    /// What the prediction interval needs beyond the above.
    #[serde(skip)]
    spread: Spread,
}

/// The residual variance and the spread of `u` the fit was drawn from, and
/// the Student t quantile for its degrees of freedom, computed once.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Spread {
    residual_variance: f64,
    t_quantile: f64,
    shape: Shape,
}

/// Which line was fitted, with what its interval needs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    /// `a + b·u`, with constant noise: the mean `u` and the sum of squares
    /// of `u` about it.
    Line { mean_u: f64, sxx: f64 },
    /// `b·u` with noise growing with the crowd (variance ∝ `u`): the sum of
    /// `u`.
    Ratio { sum_u: f64 },
}

/// Whether `pairs` can calibrate at all: at least 3, with two distinct `u`
/// (DESIGN §9; no line goes through one abscissa).
fn enough(pairs: &[CalibrationPair]) -> bool {
    pairs.len() >= 3 && pairs.iter().any(|p| p.u != pairs[0].u)
}

impl Fit {
    /// The fit of `pairs`, or `None` with fewer than 3 pairs or a single
    /// distinct `u` (no line goes through one abscissa).
    pub fn ols(pairs: &[CalibrationPair]) -> Option<Fit> {
        let n = pairs.len();
        if !enough(pairs) {
            return None;
        }
        let nf = n as f64;
        let mean_u = pairs.iter().map(|p| p.u as f64).sum::<f64>() / nf;
        let mean_y = pairs.iter().map(|p| p.people as f64).sum::<f64>() / nf;
        // Centred sums: head-counts run to tens of thousands, and raw sums of
        // squares would lose the digits the slope lives in.
        let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
        for p in pairs {
            let (du, dy) = (p.u as f64 - mean_u, p.people as f64 - mean_y);
            sxx += du * du;
            sxy += du * dy;
            syy += dy * dy;
        }
        if sxx <= 0.0 {
            return None;
        }
        let b = sxy / sxx;
        let a = mean_y - b * mean_u;
        let sse = pairs
            .iter()
            .map(|p| {
                let e = p.people as f64 - (a + b * p.u as f64);
                e * e
            })
            .sum::<f64>();
        let dof = nf - 2.0;
        let residual_variance = sse / dof;
        let se_b = (residual_variance / sxx).sqrt();
        let se_a = (residual_variance * (1.0 / nf + mean_u * mean_u / sxx)).sqrt();
        let r2 = if syy > 0.0 { 1.0 - sse / syy } else { 1.0 };
        let t_quantile = StudentsT::new(0.0, 1.0, dof)
            .ok()?
            .inverse_cdf(1.0 - (1.0 - COVERAGE) / 2.0);
        // Leave-one-out residuals without refitting: for least squares the
        // residual of pair i under the fit of the others is e_i / (1 − h_i),
        // h_i its leverage.
        let mut percentages = 0.0;
        let mut counted = 0usize;
        for p in pairs {
            let du = p.u as f64 - mean_u;
            let leverage = 1.0 / nf + du * du / sxx;
            let held_up_alone = 1.0 - leverage < 1e-9;
            if p.people == 0 || held_up_alone {
                continue;
            }
            let residual = p.people as f64 - (a + b * p.u as f64);
            percentages += (residual / (1.0 - leverage)).abs() / p.people as f64;
            counted += 1;
        }
        let loo_mape = (counted > 0).then(|| 100.0 * percentages / counted as f64);
        Some(Fit {
            a,
            b,
            se_a,
            se_b,
            r2,
            n,
            loo_mape,
            spread: Spread {
                residual_variance,
                t_quantile,
                shape: Shape::Line { mean_u, sxx },
            },
        })
    }

    /// The fit of `people = b·u` through the origin, with noise that grows
    /// with the crowd (weighted least squares, variance ∝ `u`): `b` is then
    /// the ratio estimator Σ people ÷ Σ posters. What the deployment's
    /// pairs are fitted with: its counts come from zones of every size, and
    /// an intercept ("people when nobody posts") drawn from a crowded piazza
    /// would put thousands into an empty side street, while people per
    /// poster carries over from one zone to another; and a count of 10,000
    /// is off by more people than a count of 100, which constant noise
    /// would deny (its interval would hold thousands where nobody posts).
    /// Counts beside no poster say nothing of people per poster and are
    /// left out. `None` as for [`Fit::ols`].
    pub fn ols_through_origin(pairs: &[CalibrationPair]) -> Option<Fit> {
        let pairs: Vec<CalibrationPair> = pairs.iter().copied().filter(|p| p.u > 0).collect();
        if !enough(&pairs) {
            return None;
        }
        let n = pairs.len();
        let nf = n as f64;
        let sum_u: f64 = pairs.iter().map(|p| p.u as f64).sum();
        let sum_y: f64 = pairs.iter().map(|p| p.people as f64).sum();
        let b = sum_y / sum_u;
        let residual = |p: &CalibrationPair| p.people as f64 - b * p.u as f64;
        // Residuals scaled to unit variance: e / √u.
        let weighted_sse: f64 = pairs.iter().map(|p| residual(p).powi(2) / p.u as f64).sum();
        let dof = nf - 1.0;
        let residual_variance = weighted_sse / dof;
        let t_quantile = StudentsT::new(0.0, 1.0, dof)
            .ok()?
            .inverse_cdf(1.0 - (1.0 - COVERAGE) / 2.0);
        // The share of the counts' spread about their mean that the line
        // explains, so that it reads as the other fit's R².
        let mean_y = sum_y / nf;
        let syy: f64 = pairs.iter().map(|p| (p.people as f64 - mean_y).powi(2)).sum();
        let sse: f64 = pairs.iter().map(|p| residual(p).powi(2)).sum();
        let r2 = if syy > 0.0 { 1.0 - sse / syy } else { 1.0 };
        // Leave-one-out: each count predicted by the ratio of the others.
        let mut percentages = 0.0;
        let mut counted = 0usize;
        for p in &pairs {
            let rest_u = sum_u - p.u as f64;
            if p.people == 0 || rest_u <= 0.0 {
                continue;
            }
            let b_without = (sum_y - p.people as f64) / rest_u;
            percentages += (p.people as f64 - b_without * p.u as f64).abs() / p.people as f64;
            counted += 1;
        }
        Some(Fit {
            a: 0.0,
            b,
            se_a: 0.0,
            se_b: (residual_variance / sum_u).sqrt(),
            r2,
            n,
            loo_mape: (counted > 0).then(|| 100.0 * percentages / counted as f64),
            spread: Spread {
                residual_variance,
                t_quantile,
                shape: Shape::Ratio { sum_u },
            },
        })
    }

    /// Whether the line says more posters mean more people: a count that
    /// falls as posters rise describes no crowd, and such a fit (noise over
    /// a narrow spread of `u`) is not used.
    pub fn rises(&self) -> bool {
        self.b > 0.0 && self.b.is_finite()
    }

    /// The fitted people for `u` and the 90 % prediction interval of a new
    /// count there: `ŷ ± t(0.95, n−2) · s · √(1 + 1/n + (u − ū)²/Sxx)` for
    /// a line, `ŷ ± t(0.95, n−1) · s · √(u · (1 + u/Σu))` for a ratio.
    /// Nobody is fewer than no one: every figure is clamped at 0.
    pub fn estimate(&self, u: u64) -> Estimate {
        let s = self.spread;
        let u = u as f64;
        let fitted = self.a + self.b * u;
        let spread = match s.shape {
            Shape::Line { mean_u, sxx } => 1.0 + 1.0 / self.n as f64 + (u - mean_u).powi(2) / sxx,
            Shape::Ratio { sum_u } => u * (1.0 + u / sum_u),
        };
        let half_width = s.t_quantile * (s.residual_variance * spread).sqrt();
        Estimate::from_figures(fitted, fitted - half_width, fitted + half_width, true)
    }
}

/// The people-per-contributor prior (`--people-per-contributor`, default
/// 25): positive and finite, or it does not exist.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prior {
    k: f64,
}

/// Why a people-per-contributor figure was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("people per contributor must be a positive finite number, got {0}")]
pub struct PriorError(pub f64);

impl Prior {
    /// DESIGN §9's default: 25 people for each distinct contributor.
    pub const DEFAULT_PEOPLE_PER_CONTRIBUTOR: f64 = 25.0;

    /// How far the prior's interval reaches either way, as a factor: from
    /// `k·u / 2` to `2·k·u`.
    ///
    /// Why a factor of two: the share of a crowd that posts differs between
    /// events, hours and networks by at least that much (Botta et al. found
    /// different slopes for each venue and source), and the error of a ratio
    /// is multiplicative: half as many people as the guess is as likely as
    /// twice as many, which a symmetric ±50 % would not say. An interval the
    /// head-counts will narrow is more honest than a narrow one nobody
    /// checked.
    pub const INTERVAL_FACTOR: f64 = 2.0;

    /// The prior `people = k·u`.
    pub fn new(people_per_contributor: f64) -> Result<Prior, PriorError> {
        if people_per_contributor.is_finite() && people_per_contributor > 0.0 {
            Ok(Prior {
                k: people_per_contributor,
            })
        } else {
            Err(PriorError(people_per_contributor))
        }
    }

    /// People per contributor.
    pub fn people_per_contributor(&self) -> f64 {
        self.k
    }

    /// `k·u`, with the interval of [`Prior::INTERVAL_FACTOR`], uncalibrated.
    pub fn estimate(&self, u: u64) -> Estimate {
        let guess = self.k * u as f64;
        Estimate::from_figures(
            guess,
            guess / Self::INTERVAL_FACTOR,
            guess * Self::INTERVAL_FACTOR,
            false,
        )
    }
}

impl Default for Prior {
    fn default() -> Self {
        Prior {
            k: Self::DEFAULT_PEOPLE_PER_CONTRIBUTOR,
        }
    }
}

/// People in a zone: the `people` object of DESIGN §9's zone status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Estimate {
    /// The best guess.
    pub estimate: u64,
    /// The lower end of the 90 % prediction interval, never below 0.
    pub low: u64,
    /// The upper end of the 90 % prediction interval.
    pub high: u64,
    /// Whether head-counts calibrated it; `false` while the prior applies.
    pub calibrated: bool,
}

impl Estimate {
    /// Whole people, none fewer than 0, and `low ≤ estimate ≤ high`.
    fn from_figures(estimate: f64, low: f64, high: f64, calibrated: bool) -> Estimate {
        // `as` saturates: a NaN becomes 0 and an overflow u64::MAX.
        let people = |x: f64| x.max(0.0).round() as u64;
        let estimate = people(estimate);
        Estimate {
            estimate,
            low: people(low).min(estimate),
            high: people(high).max(estimate),
            calibrated,
        }
    }
}

/// What turns a zone's contributors into people, and whose calibration it
/// is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Model {
    /// The zone's own fit: it has been counted often enough.
    Zone(Fit),
    /// The fit of every pair in the deployment: the zone's own counts do not
    /// make a fit.
    Deployment(Fit),
    /// Not enough counts anywhere: the prior, uncalibrated.
    Prior(Prior),
}

impl Model {
    /// DESIGN §9's choice: a zone with at least 3 pairs of its own (with two
    /// distinct `u`, else no line can be fitted through them) uses its own
    /// fit, any other the deployment's over all pairs (through the origin:
    /// [`Fit::ols_through_origin`] says why), and without that the prior.
    /// A fit whose line falls as posters rise is passed over. Both slices
    /// are the recent pairs ([`recent_pairs`]).
    pub fn choose(zone_pairs: &[CalibrationPair], deployment_pairs: &[CalibrationPair], prior: Prior) -> Model {
        if let Some(fit) = Fit::ols(zone_pairs).filter(Fit::rises) {
            Model::Zone(fit)
        } else if let Some(fit) = Fit::ols_through_origin(deployment_pairs).filter(Fit::rises) {
            Model::Deployment(fit)
        } else {
            Model::Prior(prior)
        }
    }

    /// People for `u` distinct contributors.
    pub fn estimate(&self, u: u64) -> Estimate {
        match self {
            Model::Zone(fit) | Model::Deployment(fit) => fit.estimate(u),
            Model::Prior(prior) => prior.estimate(u),
        }
    }

    /// The fit in use, if any: what the calibration endpoint reports.
    pub fn fit(&self) -> Option<&Fit> {
        match self {
            Model::Zone(fit) | Model::Deployment(fit) => Some(fit),
            Model::Prior(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// A standard normal draw (Box–Muller): the t interval's promise holds
    /// for normal noise, so that is the noise the tests draw.
    fn normal(rng: &mut StdRng) -> f64 {
        let u1: f64 = 1.0 - rng.random::<f64>();
        let u2: f64 = rng.random::<f64>();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// One count of a crowd whose truth is `a + b·u`, with normal noise.
    fn draw(rng: &mut StdRng, a: f64, b: f64, noise: f64, u: u64) -> CalibrationPair {
        let people = a + b * u as f64 + noise * normal(rng);
        CalibrationPair {
            u,
            people: people.max(0.0).round() as u64,
        }
    }

    /// `n` counts of crowds of 30 to 300 posters, the first two at distinct
    /// `u` whatever the draw, with noise of `noise_at(u)`.
    fn calibration(rng: &mut StdRng, n: usize, a: f64, b: f64, noise_at: impl Fn(u64) -> f64) -> Vec<CalibrationPair> {
        (0..n)
            .map(|j| {
                let u = if j < 2 {
                    50 + 100 * j as u64
                } else {
                    rng.random_range(30..300)
                };
                draw(rng, a, b, noise_at(u), u)
            })
            .collect()
    }

    fn pairs(list: &[(u64, u64)]) -> Vec<CalibrationPair> {
        list.iter().map(|&(u, people)| CalibrationPair { u, people }).collect()
    }

    #[test]
    fn the_fit_recovers_a_and_b_within_their_standard_errors() {
        let mut rng = StdRng::seed_from_u64(14);
        let mut fits = 0;
        let mut within_2se = [0, 0];
        let mut within_3se = [0, 0];
        for (a, b) in [(0.0, 25.0), (500.0, 12.0), (2000.0, 40.0), (3000.0, 3.5)] {
            // Noise as a share of the smallest crowd drawn (u = 20), so that
            // no count is clamped at 0 and the noise stays normal.
            for share in [0.02, 0.1, 0.25] {
                let noise = share * (a + 20.0 * b);
                for _ in 0..25 {
                    let sample: Vec<_> = (0..40)
                        .map(|_| {
                            let u = rng.random_range(20..400);
                            draw(&mut rng, a, b, noise, u)
                        })
                        .collect();
                    let fit = Fit::ols(&sample).expect("40 pairs over many u");
                    assert_eq!(fit.n, 40);
                    let off = [(fit.a - a).abs() / fit.se_a, (fit.b - b).abs() / fit.se_b];
                    // No fit is grossly off; how many land within 2 and 3
                    // standard errors is the test below (with 38 degrees
                    // of freedom, beyond 6 happens to about one estimate in
                    // 1.8 million).
                    assert!(
                        off[0] <= 6.0 && off[1] <= 6.0,
                        "a = {} ± {}, b = {} ± {} for truth {a}, {b} (noise {noise})",
                        fit.a,
                        fit.se_a,
                        fit.b,
                        fit.se_b
                    );
                    fits += 1;
                    for i in 0..2 {
                        within_2se[i] += usize::from(off[i] <= 2.0);
                        within_3se[i] += usize::from(off[i] <= 3.0);
                    }
                }
            }
        }
        // The standard errors are honest, neither too small nor merely
        // large: about 95 % of the fits land within two of them, about
        // 99.5 % within three.
        for (within2, within3) in within_2se.into_iter().zip(within_3se) {
            let share = within2 as f64 / fits as f64;
            assert!((0.91..=0.99).contains(&share), "{within2} of {fits} within 2 se");
            let share = within3 as f64 / fits as f64;
            assert!(share >= 0.98, "{within3} of {fits} within 3 se");
        }
    }

    #[test]
    fn ninety_percent_prediction_intervals_hold_about_ninety_percent_of_new_counts() {
        let mut rng = StdRng::seed_from_u64(90);
        let draws = 2_000;
        let mut inside = 0;
        for i in 0..draws {
            // Small and large calibrations, several crowds and noise levels.
            let n = [3, 5, 12, 50][i % 4];
            let (a, b, noise) = [(300.0, 20.0, 200.0), (1000.0, 8.0, 60.0), (0.0, 30.0, 250.0)][i % 3];
            let sample = calibration(&mut rng, n, a, b, |_| noise);
            let fit = Fit::ols(&sample).expect("two distinct u");
            let new_u = rng.random_range(30..300);
            let held_out = draw(&mut rng, a, b, noise, new_u);
            let e = fit.estimate(held_out.u);
            assert!(e.calibrated);
            inside += usize::from((e.low..=e.high).contains(&held_out.people));
        }
        let share = inside as f64 / draws as f64;
        assert!((0.85..=0.95).contains(&share), "{inside} of {draws} inside");
    }

    #[test]
    fn the_t_quantile_is_the_tabled_one() {
        for (n, t) in [(3, 6.3138), (4, 2.9200), (12, 1.8125), (50, 1.6772)] {
            let sample: Vec<_> = (0..n).map(|i| CalibrationPair { u: i, people: i * i }).collect();
            let fit = Fit::ols(&sample).expect("distinct u");
            assert!(
                (fit.spread.t_quantile - t).abs() < 1e-3,
                "n {n}: {}",
                fit.spread.t_quantile
            );
        }
    }

    #[test]
    fn an_exact_line_is_fitted_exactly() {
        let fit = Fit::ols(&pairs(&[(10, 300), (20, 500), (40, 900)])).expect("fit");
        assert!((fit.a - 100.0).abs() < 1e-9 && (fit.b - 20.0).abs() < 1e-9);
        assert!(fit.se_a < 1e-6 && fit.se_b < 1e-6);
        assert!((fit.r2 - 1.0).abs() < 1e-12);
        assert!(fit.loo_mape.is_some_and(|m| m < 1e-9));
        assert_eq!(
            fit.estimate(30),
            Estimate {
                estimate: 700,
                low: 700,
                high: 700,
                calibrated: true
            }
        );
    }

    #[test]
    fn the_leave_one_out_error_predicts_each_count_from_the_others() {
        // Leaving out (30, 1300) the others lie on 100 + 20u, which says 700
        // there: 600 off 1300. Leaving out any other, the line through the
        // remaining two misses it by as much in people.
        let sample = pairs(&[(10, 300), (20, 500), (30, 1300), (40, 900)]);
        let fit = Fit::ols(&sample).expect("fit");
        let by_refit: f64 = (0..sample.len())
            .map(|i| {
                let others: Vec<_> = sample
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, p)| *p)
                    .collect();
                let (mean_u, mean_y) = (
                    others.iter().map(|p| p.u as f64).sum::<f64>() / 3.0,
                    others.iter().map(|p| p.people as f64).sum::<f64>() / 3.0,
                );
                let sxx: f64 = others.iter().map(|p| (p.u as f64 - mean_u).powi(2)).sum();
                let sxy: f64 = others
                    .iter()
                    .map(|p| (p.u as f64 - mean_u) * (p.people as f64 - mean_y))
                    .sum();
                let b = sxy / sxx;
                let predicted = mean_y + b * (sample[i].u as f64 - mean_u);
                (predicted - sample[i].people as f64).abs() / sample[i].people as f64
            })
            .sum::<f64>()
            * 100.0
            / 4.0;
        let loo = fit.loo_mape.expect("every pair can be left out");
        assert!((loo - by_refit).abs() < 1e-9, "{loo} vs {by_refit}");
    }

    #[test]
    fn a_count_of_nobody_has_no_percentage_error_and_is_left_out_of_it() {
        let fit = Fit::ols(&pairs(&[(0, 0), (10, 300), (20, 500), (40, 900)])).expect("fit");
        assert!(fit.loo_mape.is_some_and(f64::is_finite));
    }

    #[test]
    fn fewer_than_three_pairs_or_one_distinct_u_leave_the_prior_uncalibrated() {
        let prior = Prior::default();
        for sample in [
            pairs(&[]),
            pairs(&[(10, 300)]),
            pairs(&[(10, 300), (20, 500)]),
            pairs(&[(10, 300), (10, 320), (10, 280), (10, 900)]),
        ] {
            let model = Model::choose(&sample, &sample, prior);
            assert_eq!(model, Model::Prior(prior));
            assert!(model.fit().is_none());
            let e = model.estimate(12);
            assert_eq!(
                e,
                Estimate {
                    estimate: 300,
                    low: 150,
                    high: 600,
                    calibrated: false
                },
                "{sample:?}"
            );
        }
        assert_eq!(Prior::default().people_per_contributor(), 25.0);
    }

    #[test]
    fn three_pairs_with_two_distinct_u_calibrate() {
        let sample = pairs(&[(10, 300), (10, 320), (20, 500)]);
        let model = Model::choose(&[], &sample, Prior::default());
        assert!(matches!(model, Model::Deployment(_)));
        let e = model.estimate(15);
        assert!(e.calibrated);
        assert!(e.low <= e.estimate && e.estimate <= e.high);
    }

    #[test]
    fn the_deployments_line_goes_through_the_origin_so_an_empty_zone_holds_nobody() {
        // A crowded piazza counted twice at 8,800 and 9,000 with few posters
        // (most of its crowd does not post), and a street counted by its
        // posters: with an intercept, every empty zone would hold thousands.
        let deployment = pairs(&[(20, 8_800), (22, 9_000), (100, 2_500), (200, 5_000), (400, 10_000)]);
        let with_intercept = Fit::ols(&deployment).expect("a fit");
        assert!(with_intercept.estimate(0).estimate > 3_000, "{with_intercept:?}");
        let shared = Model::choose(&[], &deployment, Prior::default());
        assert!(matches!(shared, Model::Deployment(_)));
        assert_eq!(shared.estimate(0).estimate, 0);
        assert_eq!(shared.estimate(0).high, 0);
        let fit = shared.fit().expect("a fit");
        assert_eq!(fit.a, 0.0);
        // People per poster over every count: Σ people ÷ Σ posters.
        assert!((fit.b - 35_300.0 / 742.0).abs() < 1e-9, "{fit:?}");
        // The interval widens with the crowd, from nothing where nobody posts.
        let (small, large) = (shared.estimate(10), shared.estimate(400));
        assert!(large.high - large.low > small.high - small.low);
    }

    #[test]
    fn the_ratio_recovers_people_per_poster_and_its_intervals_hold_about_ninety_percent() {
        let mut rng = StdRng::seed_from_u64(19);
        let (draws, mut inside, mut within_2se) = (2_000, 0, 0);
        for i in 0..draws {
            let n = [3, 5, 12, 50][i % 4];
            let (b, noise) = [(25.0, 300.0), (8.0, 60.0), (40.0, 900.0)][i % 3];
            // Noise that grows with the crowd, as the ratio assumes.
            let sample = calibration(&mut rng, n, 0.0, b, |u| noise * (u as f64 / 100.0).sqrt());
            let fit = Fit::ols_through_origin(&sample).expect("two distinct u");
            assert_eq!(fit.a, 0.0);
            within_2se += usize::from((fit.b - b).abs() <= 2.0 * fit.se_b);
            let new_u = rng.random_range(30..300);
            let held_out = draw(&mut rng, 0.0, b, noise * (new_u as f64 / 100.0).sqrt(), new_u);
            let e = fit.estimate(held_out.u);
            inside += usize::from((e.low..=e.high).contains(&held_out.people));
        }
        let share = inside as f64 / draws as f64;
        assert!((0.85..=0.95).contains(&share), "{inside} of {draws} inside");
        let share = within_2se as f64 / draws as f64;
        assert!((0.90..=0.99).contains(&share), "{within_2se} of {draws} within 2 se");
    }

    #[test]
    fn a_line_that_falls_as_posters_rise_is_not_used() {
        // Three counts of a thinning crowd with more posters: noise, or a
        // forged count, but no crowd.
        let falling = pairs(&[(10, 3_000), (20, 2_000), (30, 1_000)]);
        let deployment = pairs(&[(10, 250), (20, 500), (40, 1000)]);
        let model = Model::choose(&falling, &deployment, Prior::default());
        assert!(matches!(model, Model::Deployment(_)), "{model:?}");
        // Without other counts, the prior.
        let alone = Model::choose(&falling, &[], Prior::default());
        assert!(matches!(alone, Model::Prior(_)), "{alone:?}");
        assert_eq!(alone.estimate(2_000).estimate, 50_000);
    }

    #[test]
    fn a_zone_counted_often_enough_uses_its_own_fit_else_the_deployments() {
        let deployment = pairs(&[(10, 250), (20, 500), (40, 1000), (80, 2000)]);
        let zone = pairs(&[(10, 100), (20, 200), (40, 400)]);
        let own = Model::choose(&zone, &deployment, Prior::default());
        assert!(matches!(own, Model::Zone(_)));
        assert_eq!(own.estimate(30).estimate, 300);

        let twice_counted = &zone[..2];
        let shared = Model::choose(twice_counted, &deployment, Prior::default());
        assert!(matches!(shared, Model::Deployment(_)));
        assert_eq!(shared.estimate(30).estimate, 750);

        // Three counts at one u make no line: the deployment's fit, not none.
        let one_u = pairs(&[(10, 100), (10, 120), (10, 90)]);
        assert!(matches!(
            Model::choose(&one_u, &deployment, Prior::default()),
            Model::Deployment(_)
        ));
    }

    #[test]
    fn no_estimate_or_interval_end_goes_below_nobody() {
        // A steep line with a negative intercept: few posters predict fewer
        // than nobody.
        let fit = Fit::ols(&pairs(&[(10, 50), (20, 600), (30, 1000), (40, 1700)])).expect("fit");
        assert!(fit.a < 0.0);
        let e = fit.estimate(0);
        assert_eq!((e.estimate, e.low), (0, 0));
        assert!(e.high >= e.estimate);
    }

    #[test]
    fn the_prior_is_refused_unless_positive_and_finite() {
        for k in [0.0, -3.0, f64::NAN, f64::INFINITY] {
            assert!(Prior::new(k).is_err(), "{k}");
        }
        assert_eq!(Prior::new(10.0).map(|p| p.estimate(4).estimate), Ok(40));
    }

    #[test]
    fn recent_pairs_are_the_newest_fifty_within_six_hours() {
        let now = 100_000;
        let timed: Vec<TimedPair> = (0..80)
            .map(|i| TimedPair {
                at: now - i * 60,
                pair: CalibrationPair { u: i as u64, people: 1 },
            })
            .chain([
                TimedPair {
                    at: now - 6 * 3600 - 1,
                    pair: CalibrationPair { u: 999, people: 1 },
                },
                TimedPair {
                    at: now + 5,
                    pair: CalibrationPair { u: 1000, people: 1 },
                },
            ])
            .collect();
        let recent = recent_pairs(&timed, now, Recency::default());
        assert_eq!(recent.len(), 50);
        assert_eq!(recent[0].u, 1000, "a count from a clock slightly ahead is the newest");
        assert_eq!(recent[1].u, 0);
        assert_eq!(recent[49].u, 48);

        let tight = Recency {
            max_pairs: 50,
            max_age_secs: 600,
        };
        let recent = recent_pairs(&timed, now, tight);
        assert_eq!(
            recent.iter().map(|p| p.u).collect::<Vec<_>>(),
            [1000, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
        );
    }

    #[test]
    fn the_people_object_reads_as_the_contract_writes_it() {
        let e = Prior::default().estimate(4);
        assert_eq!(
            serde_json::to_value(e).expect("serialises"),
            serde_json::json!({"estimate": 100, "low": 50, "high": 200, "calibrated": false})
        );
        let fit = Fit::ols(&pairs(&[(10, 300), (20, 500), (40, 900)])).expect("fit");
        let json = serde_json::to_value(fit).expect("serialises");
        let mut keys: Vec<_> = json.as_object().expect("object").keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["a", "b", "loo_mape", "n", "r2", "se_a", "se_b"]);
    }
}
