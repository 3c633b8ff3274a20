//! Ranking quality of binary scores: ROC AUC and average precision, ties included.
//!
//! Both walk the scores from highest to lowest one *distinct* score at a time, which is
//! what scikit-learn's `_binary_clf_curve` does: records with equal scores move the curve
//! together, so a tie is one diagonal step rather than an arbitrary order.

/// Cumulative true and false positives after each group of tied scores, best score first,
/// from `(score, label, count)` triples.
fn tie_groups(pairs: &mut [(f64, bool, usize)]) -> Vec<(f64, f64)> {
    // Scores are checked finite before this point, so total_cmp orders them numerically.
    pairs.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
    let mut groups = Vec::new();
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut i = 0;
    while i < pairs.len() {
        let score = pairs[i].0;
        while i < pairs.len() && pairs[i].0 == score {
            // Counts of one window are far below 2^53: adding a count at once is exact,
            // the same as adding one per record.
            if pairs[i].1 {
                tp += pairs[i].2 as f64;
            } else {
                fp += pairs[i].2 as f64;
            }
            i += 1;
        }
        groups.push((tp, fp));
    }
    groups
}

/// ROC AUC and average precision of `(score, label, count)` triples, each standing for
/// `count` records (reordered in place).
///
/// AUC is the trapezoid area under the ROC curve, i.e. the Mann–Whitney probability that
/// a positive outranks a negative with ties counted one half; `None` unless both classes
/// are present. Average precision is `Σ (R_k − R_{k−1}) · P_k` over the distinct
/// thresholds, without interpolation, as scikit-learn; `None` without positives.
pub(super) fn auc_and_average_precision(pairs: &mut [(f64, bool, usize)]) -> (Option<f64>, Option<f64>) {
    let groups = tie_groups(pairs);
    let Some(&(positives, negatives)) = groups.last() else {
        return (None, None);
    };
    let (mut area, mut ap) = (0.0, 0.0);
    let (mut prev_tp, mut prev_fp) = (0.0, 0.0);
    for &(tp, fp) in &groups {
        // Trapezoid between consecutive ROC points, in unnormalised (fp, tp) units.
        area += (fp - prev_fp) * (tp + prev_tp) / 2.0;
        ap += (tp - prev_tp) * (tp / (tp + fp));
        prev_tp = tp;
        prev_fp = fp;
    }
    let auc = (positives > 0.0 && negatives > 0.0).then(|| area / (positives * negatives));
    let average_precision = (positives > 0.0).then(|| ap / positives);
    (auc, average_precision)
}

#[cfg(test)]
mod tests {
    use super::auc_and_average_precision;

    #[test]
    fn a_tie_between_a_positive_and_a_negative_counts_one_half() {
        // Positive 0.9 beats the negative; positive 0.6 ties it: (1 + 0.5) / 2 pairs.
        let mut pairs = [(0.9, true, 1), (0.6, false, 1), (0.6, true, 1)];
        let (auc, ap) = auc_and_average_precision(&mut pairs);
        assert_eq!(auc, Some(0.75));
        // Thresholds 0.9 (P = 1, R = 1/2) then 0.6 (P = 2/3, R = 1): 1/2 + 1/2 · 2/3.
        let expected = 0.5 + 0.5 * 2.0 / 3.0;
        assert!(ap.is_some_and(|v| (v - expected).abs() < 1e-15), "{ap:?}");
    }

    #[test]
    fn one_class_has_no_auc_and_no_positives_no_average_precision() {
        assert_eq!(auc_and_average_precision(&mut [(0.2, false, 1), (0.8, false, 2)]), (None, None));
        assert_eq!(auc_and_average_precision(&mut [(0.2, true, 3), (0.8, true, 1)]), (None, Some(1.0)));
        assert_eq!(auc_and_average_precision(&mut []), (None, None));
    }
}
