//! The statistics: Welch's two one-sided tests on final losses, and the
//! Student-t distribution they need.

use serde::Serialize;

use super::{Settings, Verdict};
use crate::error::Error;

/// The paired test on two lists of final losses; see [`tost`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Test {
    /// `(par_mean − seq_mean) / seq_mean` on floored losses, a fraction.
    pub rel_gap: f64,
    /// Lower end of the `1 − 2α` confidence interval of `rel_gap`.
    pub ci_low: f64,
    /// Upper end of the `1 − 2α` confidence interval of `rel_gap`.
    pub ci_high: f64,
    /// The TOST p-value: the larger of the two one-sided p-values (`< α`
    /// exactly when the verdict is `Equivalent`, up to ties).
    pub p_value: f64,
    /// Whether the interval lies inside ±tolerance.
    pub verdict: Verdict,
}

/// The paired two one-sided tests (TOST) of `|rel_gap| < tolerance`, on the
/// final losses of runs paired by position (`seq[i]` and `par[i]` used the
/// same seed). See the [module docs](crate::equivalence) for the statistics.
///
/// ```
/// use wildsgd::equivalence::{tost, Verdict};
///
/// let seq = [0.300, 0.302, 0.299];
/// let close = [0.301, 0.302, 0.300]; // +0.2 %, consistently
/// assert_eq!(tost(&seq, &close, 0.01, 0.05, 0.05).unwrap().verdict, Verdict::Equivalent);
/// let worse = [0.308, 0.309, 0.306]; // +2.4 %
/// let t = tost(&seq, &worse, 0.01, 0.05, 0.05).unwrap();
/// assert_eq!(t.verdict, Verdict::Different);
/// assert!((t.rel_gap - 0.0244).abs() < 1e-3);
/// ```
pub fn tost(seq: &[f64], par: &[f64], tolerance: f64, alpha: f64, loss_floor: f64) -> Result<Test, Error> {
    if seq.len() != par.len() {
        return Err(Error::LengthMismatch {
            what: "paired losses",
            expected: seq.len(),
            found: par.len(),
        });
    }
    Settings {
        seeds: seq.len(),
        tolerance,
        alpha,
        loss_floor,
    }
    .validate()?;
    if let Some(l) = seq.iter().chain(par).find(|l| !l.is_finite()) {
        return Err(Error::InvalidParameter {
            name: "losses",
            reason: format!("a loss is {l}"),
        });
    }
    let k = seq.len();
    let floor = |l: f64| l.max(loss_floor);
    let diffs: Vec<f64> = seq.iter().zip(par).map(|(&s, &p)| floor(p) - floor(s)).collect();
    let base = mean(seq.iter().map(|&s| floor(s)));
    if base <= 0.0 {
        return Err(Error::InvalidParameter {
            name: "losses",
            reason: "the sequential mean is 0 and the loss floor is 0: no relative gap exists".into(),
        });
    }
    let (d, sd) = (mean(diffs.iter().copied()), sd(&diffs));
    let df = (k - 1) as f64;
    let se = sd / (k as f64).sqrt();
    let half = t_quantile(1.0 - alpha, df) * se;
    let margin = tolerance * base;
    let p_value = if se > 0.0 {
        let p_low = 1.0 - t_cdf((d + margin) / se, df); // H0: d <= -margin
        let p_high = t_cdf((d - margin) / se, df); // H0: d >= +margin
        p_low.max(p_high)
    } else if d.abs() < margin {
        0.0
    } else {
        1.0
    };
    let (ci_low, ci_high) = ((d - half) / base, (d + half) / base);
    let verdict = if ci_low > -tolerance && ci_high < tolerance {
        Verdict::Equivalent
    } else {
        Verdict::Different
    };
    Ok(Test {
        rel_gap: d / base,
        ci_low,
        ci_high,
        p_value,
        verdict,
    })
}

pub(crate) fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for x in xs {
        sum += x;
        n += 1;
    }
    sum / n as f64
}

/// The sample standard deviation (`n − 1` in the denominator; 0 for fewer
/// than two values).
pub(crate) fn sd(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return 0.0;
    }
    let m = mean(xs.iter().copied());
    (xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (xs.len() - 1) as f64).sqrt()
}

/// `ln Γ(x)` for `x > 0` (Lanczos, g = 7, 9 terms; ~1e-15 relative).
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, &c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularised incomplete beta function `I_x(a, b)` (continued fraction,
/// modified Lentz).
fn inc_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front = (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    if x > (a + 1.0) / (a + b + 2.0) {
        return 1.0 - inc_beta(1.0 - x, b, a);
    }
    const TINY: f64 = 1e-300;
    let (mut c, mut d) = (1.0, 1.0 - (a + b) * x / (a + 1.0));
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..300 {
        let m = f64::from(m);
        for num in [
            m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0)),
        ] {
            d = 1.0 + num * d;
            if d.abs() < TINY {
                d = TINY;
            }
            c = 1.0 + num / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            h *= d * c;
        }
        if (d * c - 1.0).abs() < 1e-15 {
            break;
        }
    }
    front * h / a
}

/// The CDF of Student's t with `df` degrees of freedom.
fn t_cdf(t: f64, df: f64) -> f64 {
    let tail = 0.5 * inc_beta(df / (df + t * t), 0.5 * df, 0.5);
    if t > 0.0 {
        1.0 - tail
    } else {
        tail
    }
}

/// The `p` quantile of Student's t with `df` degrees of freedom (bisection).
fn t_quantile(p: f64, df: f64) -> f64 {
    let (mut lo, mut hi) = (-1e7, 1e7);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if t_cdf(mid, df) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_distribution_matches_tables() {
        // Two-sided 90 % and 95 % critical values.
        for &(p, df, want) in &[
            (0.95, 1.0, 6.313_751_5),
            (0.95, 2.0, 2.919_986),
            (0.95, 4.0, 2.131_847),
            (0.975, 10.0, 2.228_139),
            (0.95, 1000.0, 1.646_379),
        ] {
            let got = t_quantile(p, df);
            assert!((got - want).abs() < 1e-4, "t({p}, {df}) = {got}, want {want}");
        }
        assert!((t_cdf(0.0, 3.0) - 0.5).abs() < 1e-12);
        assert!((t_cdf(-2.919_986, 2.0) - 0.05).abs() < 1e-6);
    }

    #[test]
    fn ln_gamma_is_right() {
        assert!(ln_gamma(1.0).abs() < 1e-12);
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-12);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-12);
    }

    #[test]
    fn identical_runs_are_equivalent_and_offsets_are_not() {
        let seq = [0.3, 0.31, 0.29];
        let t = tost(&seq, &seq, 0.01, 0.05, 0.05).unwrap();
        assert_eq!((t.rel_gap, t.ci_low, t.ci_high), (0.0, 0.0, 0.0));
        assert_eq!(t.verdict, Verdict::Equivalent);
        assert_eq!(t.p_value, 0.0);
        // A constant +2 % offset has no spread, but lies outside the margin.
        let par: Vec<f64> = seq.iter().map(|s| s + 0.02 * 0.3).collect();
        let t = tost(&seq, &par, 0.01, 0.05, 0.05).unwrap();
        assert!((t.rel_gap - 0.02).abs() < 1e-12);
        assert_eq!(t.verdict, Verdict::Different);
        assert_eq!(t.p_value, 1.0);
    }

    #[test]
    fn noise_widens_the_interval() {
        let seq = [0.30, 0.30, 0.30];
        // Mean gap 0, but paired differences of ±1.5 %: the interval is too wide.
        let par = [0.3045, 0.2955, 0.30];
        let t = tost(&seq, &par, 0.01, 0.05, 0.05).unwrap();
        assert!(t.rel_gap.abs() < 1e-12);
        assert!(t.ci_low < -0.01 && t.ci_high > 0.01, "{t:?}");
        assert_eq!(t.verdict, Verdict::Different);
        assert!(t.p_value > 0.05);
        // The same spread at a 5 % margin passes.
        assert_eq!(tost(&seq, &par, 0.05, 0.05, 0.05).unwrap().verdict, Verdict::Equivalent);
    }

    #[test]
    fn p_value_agrees_with_the_interval() {
        let seq = [0.300, 0.302, 0.299, 0.301];
        for shift in [0.0, 0.001, 0.002, 0.0028, 0.003, 0.004] {
            let par = [0.300 + shift, 0.3025 + shift, 0.2985 + shift, 0.301 + shift];
            let t = tost(&seq, &par, 0.01, 0.05, 0.05).unwrap();
            assert_eq!(t.p_value < 0.05, t.verdict == Verdict::Equivalent, "{shift}: {t:?}");
        }
    }

    #[test]
    fn the_floor_caps_relative_gaps_near_zero() {
        let seq = [1e-6, 2e-6, 1e-6];
        let par = [1e-3, 2e-3, 1e-3]; // 1000x larger, but both far below the floor
        let t = tost(&seq, &par, 0.01, 0.05, 0.05).unwrap();
        assert_eq!(t.verdict, Verdict::Equivalent);
        assert!(tost(&seq, &par, 0.01, 0.05, 0.0).unwrap().verdict == Verdict::Different);
    }

    #[test]
    fn bad_settings_are_rejected() {
        assert!(tost(&[0.3], &[0.3], 0.01, 0.05, 0.05).is_err());
        assert!(tost(&[0.3, 0.3], &[0.3], 0.01, 0.05, 0.05).is_err());
        assert!(tost(&[0.3, 0.3], &[0.3, 0.3], 0.0, 0.05, 0.05).is_err());
        assert!(tost(&[0.3, 0.3], &[0.3, 0.3], 0.01, 0.5, 0.05).is_err());
        assert!(tost(&[0.3, f64::NAN], &[0.3, 0.3], 0.01, 0.05, 0.05).is_err());
    }
}
