//! The two-sided one-sample Kolmogorov distribution `P(D_n >= x)`, as `scipy.stats.kstwo.sf`.
//!
//! scipy's asymptotic two-sample KS p-value is this survival function at
//! `n = round(n1 n2 / (n1 + n2))`. Like scipy (Simard & L'Ecuyer 2011), it picks per
//! region of `(n, x)` the method that is accurate there: closed forms near the ends
//! (Ruben–Gambino), the Durbin matrix (Marsaglia–Tsang–Wang) and Pomeranz recursions
//! for small `n x^2`, the Pelz–Good expansion for large `n`, and twice the one-sided
//! Smirnov tail when that is exact or its error is below double precision. Using the
//! same method in the same region is what makes the numbers agree with scipy's, since
//! Pelz–Good is itself an approximation.

/// Rescaling factor for quantities that would under- or overflow: `2^128`.
const SCALE_EXP: i32 = 128;

fn scale_up() -> f64 {
    2_f64.powi(SCALE_EXP)
}

fn scale_down() -> f64 {
    2_f64.powi(-SCALE_EXP)
}

/// `x * 2^exp` without overflowing the intermediate power for large `|exp|`.
fn ldexp(mut x: f64, mut exp: i64) -> f64 {
    while exp > 1000 {
        x *= 2_f64.powi(1000);
        exp -= 1000;
    }
    while exp < -1000 {
        x *= 2_f64.powi(-1000);
        exp += 1000;
    }
    // `exp` is within ±1000 here, so the cast is lossless.
    x * 2_f64.powi(exp as i32)
}

/// `P(D_n >= x)` for the two-sided one-sample KS statistic with `n` observations
/// (`scipy.stats.kstwo.sf(x, n)`); `n = 0` has no distribution and gives NaN.
pub fn kolmogorov_sf(n: u64, x: f64) -> f64 {
    if n == 0 || x.is_nan() {
        return f64::NAN;
    }
    let nf = n as f64;
    if x >= 1.0 {
        return 0.0;
    }
    if x <= 0.0 {
        return 1.0;
    }
    let t = nf * x;
    if t <= 1.0 {
        if t <= 0.5 {
            return 1.0;
        }
        // Ruben–Gambino: P(D_n <= x) = n! / n^n (2t - 1)^n for 1/2n <= x <= 1/n.
        let cdf = if n <= 140 {
            (1..=n).fold(1.0, |p, i| p * (i as f64 * (1.0 / nf) * (2.0 * t - 1.0)))
        } else {
            (log_factorial_over_power(nf) + nf * (2.0 * t - 1.0).ln()).exp()
        };
        return (1.0 - cdf).clamp(0.0, 1.0);
    }
    if t >= nf - 1.0 {
        return (2.0 * (1.0 - x).powf(nf)).clamp(0.0, 1.0);
    }
    if x >= 0.5 {
        // The two one-sided tails cannot both be exceeded: the sum is exact.
        return (2.0 * smirnov(n, x)).clamp(0.0, 1.0);
    }
    let nx2 = t * x;
    if n <= 140 {
        let sf = if nx2 <= 0.754_693 {
            1.0 - durbin_matrix_cdf(n, x)
        } else if nx2 <= 4.0 {
            1.0 - pomeranz_cdf(n, x)
        } else {
            2.0 * smirnov(n, x)
        };
        return sf.clamp(0.0, 1.0);
    }
    if nx2 >= 370.0 {
        return 0.0;
    }
    if nx2 >= 2.2 {
        return (2.0 * smirnov(n, x)).clamp(0.0, 1.0);
    }
    let cdf = if n <= 100_000 && nf * x.powf(1.5) <= 1.4 { durbin_matrix_cdf(n, x) } else { pelz_good_cdf(nf, x) };
    (1.0 - cdf).clamp(0.0, 1.0)
}

/// `ln(n! / n^n)` by Stirling's series (scipy's coefficients).
fn log_factorial_over_power(n: f64) -> f64 {
    // B_{2k} / (2k (2k - 1)), highest order first, as `polyval` wants them.
    const COEFFS: [f64; 8] = [
        -3617.0 / 122_400.0,
        1.0 / 156.0,
        -691.0 / 360_360.0,
        1.0 / 1188.0,
        -1.0 / 1680.0,
        1.0 / 1260.0,
        -1.0 / 360.0,
        1.0 / 12.0,
    ];
    let rn = 1.0 / n;
    let poly = COEFFS.iter().fold(0.0, |acc, c| acc * (rn / n) + c);
    n.ln() / 2.0 - n + (2.0 * std::f64::consts::PI).ln() / 2.0 + rn * poly
}

/// One-sided tail `P(D+_n >= x)` by the Smirnov / Birnbaum–Tingey sum
/// `sum_{v=0}^{floor(n(1-x))} C(n, v) x (x + v/n)^(v-1) (1 - x - v/n)^(n-v)`.
///
/// Every term is positive, so the sum does not cancel; terms are built in log space,
/// with `ln C(n, v)` accumulated step by step under compensated summation so that its
/// error does not grow with `n`.
fn smirnov(n: u64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    if x >= 1.0 {
        return 0.0;
    }
    let nf = n as f64;
    let t = nf * x;
    let last = (nf * (1.0 - x)).floor() as u64;
    let ln_x = x.ln();
    let mut ln_binom = Neumaier::default();
    let mut sum = Neumaier::default();
    for v in 0..=last.min(n) {
        let vf = v as f64;
        if v > 0 {
            ln_binom.add(((nf - vf + 1.0) / vf).ln());
        }
        let rest = (nf - vf - t) / nf;
        if rest <= 0.0 && v < n {
            continue;
        }
        let mut ln_term = ln_binom.value() + ln_x + (vf - 1.0) * ((t + vf) / nf).ln();
        if v < n {
            ln_term += (nf - vf) * rest.ln();
        }
        sum.add(ln_term.exp());
    }
    sum.value().clamp(0.0, 1.0)
}

/// Neumaier's compensated sum: error independent of the number of terms.
#[derive(Default)]
struct Neumaier {
    sum: f64,
    compensation: f64,
}

impl Neumaier {
    fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.compensation += (self.sum - t) + x;
        } else {
            self.compensation += (x - t) + self.sum;
        }
        self.sum = t;
    }

    fn value(&self) -> f64 {
        self.sum + self.compensation
    }
}

/// `P(D_n <= d)` by Durbin's matrix method (Marsaglia, Tsang & Wang 2003): the
/// `(k, k)` entry of `H^n`, times `n! / n^n`, with exponents tracked separately
/// because the entries span far more than a double's range.
fn durbin_matrix_cdf(n: u64, d: f64) -> f64 {
    let nf = n as f64;
    let nd = nf * d;
    if nd <= 0.5 {
        return 0.0;
    }
    let k = nd.ceil() as usize;
    let h = k as f64 - nd;
    let m = 2 * k - 1;
    let mut w = vec![0.0; m];
    let mut v = vec![0.0; m];
    let mut fac = 1.0;
    for j in 1..=m {
        w[j - 1] = fac;
        fac /= j as f64;
        v[j - 1] = (1.0 - h.powi(j as i32)) * fac;
    }
    let tt = (2.0 * h - 1.0).max(0.0).powi(m as i32) - 2.0 * h.powi(m as i32);
    v[m - 1] = (1.0 + tt) * fac;
    let mut hm = Matrix::zeros(m);
    for i in 1..m {
        for r in (i - 1)..m {
            hm.set(r, i, w[r + 1 - i]);
        }
    }
    for (r, &vr) in v.iter().enumerate() {
        hm.set(r, 0, vr);
    }
    for c in 0..m {
        hm.set(m - 1, c, v[m - 1 - c]);
    }
    let mut power = Matrix::identity(m);
    let mut exponent: i64 = 0;
    let mut h_exponent: i64 = 0;
    let mut remaining = n;
    while remaining > 0 {
        if remaining % 2 == 1 {
            power = power.mul(&hm);
            exponent += h_exponent;
        }
        hm = hm.mul(&hm);
        h_exponent *= 2;
        if hm.get(k - 1, k - 1).abs() > scale_up() {
            hm.scale(scale_down());
            h_exponent += i64::from(SCALE_EXP);
        }
        remaining /= 2;
    }
    let mut p = power.get(k - 1, k - 1);
    for i in 1..=n {
        p = i as f64 * p / nf;
        if p.abs() < scale_down() {
            p *= scale_up();
            exponent -= i64::from(SCALE_EXP);
        }
    }
    ldexp(p, exponent).clamp(0.0, 1.0)
}

/// A small dense square matrix for the Durbin method.
struct Matrix {
    n: usize,
    a: Vec<f64>,
}

impl Matrix {
    fn zeros(n: usize) -> Self {
        Self { n, a: vec![0.0; n * n] }
    }

    fn identity(n: usize) -> Self {
        let mut m = Self::zeros(n);
        for i in 0..n {
            m.set(i, i, 1.0);
        }
        m
    }

    fn get(&self, r: usize, c: usize) -> f64 {
        self.a[r * self.n + c]
    }

    fn set(&mut self, r: usize, c: usize, v: f64) {
        self.a[r * self.n + c] = v;
    }

    fn scale(&mut self, f: f64) {
        self.a.iter_mut().for_each(|x| *x *= f);
    }

    fn mul(&self, other: &Matrix) -> Matrix {
        let n = self.n;
        let mut out = Matrix::zeros(n);
        for i in 0..n {
            for k in 0..n {
                let a = self.a[i * n + k];
                if a == 0.0 {
                    continue;
                }
                let row = &other.a[k * n..(k + 1) * n];
                for (o, b) in out.a[i * n..(i + 1) * n].iter_mut().zip(row) {
                    *o += a * b;
                }
            }
        }
        out
    }
}

/// `P(D_n <= x)` by Pomeranz's recursion (1974), for small `n`.
fn pomeranz_cdf(n: u64, x: f64) -> f64 {
    let ni = n as i64;
    let nf = n as f64;
    let t = nf * x;
    let ll = t.floor() as i64;
    let f = t - ll as f64;
    let g = f.min(1.0 - f);
    let ceilf = i64::from(f > 0.0);
    let roundf = i64::from(f > 0.5);
    let npwrs = (2 * (ll + 1)) as usize;
    let series = |ratio: f64| {
        let mut p = vec![1.0; npwrs];
        for m in 1..npwrs {
            p[m] = p[m - 1] * ratio / m as f64;
        }
        p
    };
    let gpower = series(g / nf);
    let twogpower = series(2.0 * g / nf);
    let onem2gpower = series((1.0 - 2.0 * g) / nf);
    // Row i's window of columns, already clipped to [0, n].
    let bounds = |i: i64| -> (i64, i64) {
        let (j1, j2) = if i == 0 {
            (-ll - ceilf - 1, ll + ceilf - 1)
        } else {
            let (half, odd_i) = ((i + 1) / 2, (i + 1) % 2 == 0);
            if odd_i {
                if half == ni + 1 {
                    (ni - ll - ceilf - 1, ni + ll + ceilf - 1)
                } else {
                    (half - 1 - ll - roundf - 1, half + ll - 1 + ceilf - 1)
                }
            } else {
                (half - 1 - ll - 1, half + ll + roundf - 1)
            }
        };
        ((j1 + 2).max(0), j2.min(ni))
    };
    let mut v0 = vec![0.0; npwrs];
    let mut v1 = vec![0.0; npwrs];
    v1[0] = 1.0;
    let (mut v0s, mut v1s) = (0_i64, 0_i64);
    let mut exponent: i64 = 0;
    let (mut j1, _) = bounds(0);
    for i in 1..=(2 * ni + 1) {
        let k1 = j1;
        std::mem::swap(&mut v0, &mut v1);
        std::mem::swap(&mut v0s, &mut v1s);
        v1.iter_mut().for_each(|x| *x = 0.0);
        let (nj1, nj2) = bounds(i);
        j1 = nj1;
        let pwrs = if i == 1 || i == 2 * ni + 1 {
            &gpower
        } else if i % 2 == 1 {
            &twogpower
        } else {
            &onem2gpower
        };
        let ln2 = nj2 - k1 + 1;
        if ln2 > 0 {
            let start = (k1 - v0s).max(0) as usize;
            let end = ((k1 - v0s + ln2).max(0) as usize).min(npwrs);
            let src = v0.get(start..end).unwrap_or(&[]);
            let kernel = &pwrs[..(ln2 as usize).min(npwrs)];
            let conv_start = (nj1 - k1) as usize;
            let conv_len = (nj2 - nj1 + 1).max(0) as usize;
            // Only the entries [conv_start, conv_start + conv_len) of the full convolution are kept.
            for (out, slot) in v1.iter_mut().take(conv_len).enumerate() {
                let idx = conv_start + out;
                let mut acc = 0.0;
                for (a, &va) in src.iter().enumerate() {
                    if let Some(&pb) = idx.checked_sub(a).and_then(|b| kernel.get(b)) {
                        acc += va * pb;
                    }
                }
                *slot = acc;
            }
            let max = v1.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if 0.0 < max && max < scale_down() {
                v1.iter_mut().for_each(|x| *x *= scale_up());
                exponent -= i64::from(SCALE_EXP);
            }
            v1s = v0s + nj1 - k1;
        }
    }
    let mut ans = usize::try_from(ni - v1s).ok().and_then(|i| v1.get(i)).copied().unwrap_or(0.0);
    for m in 1..=n {
        if ans.abs() > scale_up() {
            ans *= scale_down();
            exponent += i64::from(SCALE_EXP);
        }
        ans *= m as f64;
    }
    ldexp(ans, exponent).clamp(0.0, 1.0)
}

/// `P(D_n <= x)` by the Pelz–Good (1976) asymptotic expansion, for large `n`.
fn pelz_good_cdf(n: f64, x: f64) -> f64 {
    use std::f64::consts::PI;
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let sqrt_2pi = (2.0 * PI).sqrt();
    let (pi2, pi4, pi6) = (PI * PI, PI.powi(4), PI.powi(6));
    let z = n.sqrt() * x;
    let (z2, z3, z4, z6) = (z * z, z.powi(3), z.powi(4), z.powi(6));
    let qlog = -pi2 / 8.0 / z2;
    if qlog < -708.0 {
        return 0.0;
    }
    let q = qlog.exp();
    let k1a = -z2;
    let k1b = pi2 / 4.0;
    let k2a = 6.0 * z6 + 2.0 * z4;
    let k2b = (2.0 * z4 - 5.0 * z2) * pi2 / 4.0;
    let k2c = pi4 * (1.0 - 2.0 * z2) / 16.0;
    let k3d = pi6 * (5.0 - 30.0 * z2) / 64.0;
    let k3c = pi4 * (-60.0 * z2 + 212.0 * z4) / 16.0;
    let k3b = pi2 * (135.0 * z4 - 96.0 * z6) / 4.0;
    let k3a = -30.0 * z6 - 90.0 * z.powi(8);
    let mut k = [0.0_f64; 4];
    let maxk = (16.0 * z / PI).ceil() as i64;
    for kk in (1..=maxk).rev() {
        let m = (2 * kk - 1) as f64;
        let (m2, m4, m6) = (m * m, m.powi(4), m.powi(6));
        let qpower = q.powf((8 * kk) as f64);
        let coeffs = [1.0, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4, k3a + k3b * m2 + k3c * m4 + k3d * m6];
        for (ki, c) in k.iter_mut().zip(coeffs) {
            *ki = *ki * qpower + c;
        }
    }
    let divisors = [z, 6.0 * z4, 72.0 * z.powi(7), 6480.0 * z.powi(10)];
    for (ki, dv) in k.iter_mut().zip(divisors) {
        *ki = *ki * q * sqrt_2pi / dv;
    }
    let q = (-pi2 / 2.0 / z2).exp();
    let sqrt3z = 3_f64.sqrt() * z;
    let (mut k2extra, mut k3extra) = (0.0, 0.0);
    for kk in (1..=maxk).rev() {
        let kf = kk as f64;
        let ks2 = kf * kf;
        let qp = q.powf(ks2);
        k2extra += ks2 * qp;
        let kspi = PI * kf;
        k3extra += (sqrt3z + kspi) * (sqrt3z - kspi) * ks2 * qp;
    }
    k[2] += k2extra * pi2 * sqrt_2pi / (-36.0 * z3);
    k[3] += k3extra * pi2 * sqrt_2pi / (216.0 * z6);
    k.iter().enumerate().map(|(i, ki)| ki / n.powf(i as f64 / 2.0)).sum()
}
