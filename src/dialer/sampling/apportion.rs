//! Splitting a sample size over strata in proportion to their volume.

/// Largest-remainder (Hamilton) apportionment of `size` over `volumes`: each stratum
/// gets the floor of its exact share, and the seats left over go to the largest
/// remainders (ties: the larger volume, then the earlier stratum). The result sums to
/// `min(size, total)` and never exceeds a stratum's volume. Exact integer arithmetic,
/// so the split is the same everywhere.
pub fn largest_remainder(size: usize, volumes: &[usize]) -> Vec<usize> {
    let total: u128 = volumes.iter().map(|&v| v as u128).sum();
    if total == 0 {
        return vec![0; volumes.len()];
    }
    if size as u128 >= total {
        return volumes.to_vec();
    }
    let size = size as u128;
    let mut seats: Vec<usize> = volumes
        .iter()
        .map(|&v| (size * v as u128 / total) as usize)
        .collect();
    let given: usize = seats.iter().sum();
    let mut order: Vec<usize> = (0..volumes.len()).collect();
    // Remainders are r_i / total; compare the numerators.
    let remainder = |i: usize| size * volumes[i] as u128 % total;
    order.sort_by(|&a, &b| {
        remainder(b)
            .cmp(&remainder(a))
            .then(volumes[b].cmp(&volumes[a]))
            .then(a.cmp(&b))
    });
    for &i in order.iter().take(size as usize - given) {
        seats[i] += 1;
    }
    seats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_exactly_and_stays_proportional() {
        assert_eq!(largest_remainder(10, &[50, 30, 20]), [5, 3, 2]);
        // 7 × (1/3 each) = 2.33…: one leftover seat, to the first of equal strata.
        assert_eq!(largest_remainder(7, &[10, 10, 10]), [3, 2, 2]);
        // Remainders .6 .3 .1 → the 1 leftover seat goes to the first.
        assert_eq!(largest_remainder(5, &[52, 26, 22]), [3, 1, 1]);
        let v = [1_000, 7, 333, 90_000, 1];
        for size in [0, 1, 25, 7_000, 91_340] {
            let s = largest_remainder(size, &v);
            assert_eq!(s.iter().sum::<usize>(), size);
            let total: usize = v.iter().sum();
            for (seat, vol) in s.iter().zip(v) {
                let exact = size as f64 * vol as f64 / total as f64;
                assert!((*seat as f64 - exact).abs() < 1.0, "{size}: {s:?}");
                assert!(*seat <= vol);
            }
        }
    }

    #[test]
    fn size_over_total_gives_everything() {
        assert_eq!(largest_remainder(100, &[3, 0, 4]), [3, 0, 4]);
        assert_eq!(largest_remainder(5, &[0, 0]), [0, 0]);
        assert_eq!(largest_remainder(5, &[]), Vec::<usize>::new());
    }
}
