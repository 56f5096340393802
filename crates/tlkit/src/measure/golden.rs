//! Golden tests of every score against the authors' formulas in NumPy:
//! `scripts/golden/transferability.py` (run it with `bench/.venv/bin/python`) prints the small
//! seeded inputs pasted below and every expected value. The optdigits values use the whole
//! embedded set (1797 × 64, pixels / 16); the scores do not depend on the order of samples.

use super::*;
use crate::data::optdigits_embedded;

/// 40 samples of 6 features, 4 classes (the script's `small()`).
#[rustfmt::skip]
const FEATURES: [f64; 240] = [
    1.1885, -0.6091, 0.8182, -0.6972, 0.2781, -3.1567, -0.2356, 1.3302, 1.1894, 0.3206, 1.1118,
    -0.7350, 2.9979, -0.4905, 0.1147, 3.1376, -3.0339, -0.7125, 1.1148, -1.2772, 0.1020, 1.9742,
    -2.0272, -0.3535, 1.0429, 1.1754, 2.1518, -2.9598, 1.8887, -1.0714, 0.5787, -1.1204, 0.5394,
    -1.4528, -0.3222, -0.7046, 1.2860, 0.8886, 0.5999, 1.6828, 1.0269, 0.9569, -0.0693, 1.9876,
    0.8807, 1.7231, -0.9351, 1.8628, 1.2524, -2.5263, -0.1420, 0.5278, -3.2880, -0.9177, 0.2500,
    -0.2486, 0.7459, 1.7230, -2.8258, -0.7004, 1.5950, -0.6096, 0.8844, -1.7553, 1.2139,
    -0.9837, 1.8228, -0.1683, 0.9424, 1.3375, -1.6658, -1.1061, 0.3463, 0.7629, 0.1794, 0.7825,
    0.9229, 0.6360, -0.7890, -0.4226, 0.5214, 0.8612, 0.7122, 1.0889, 2.0675, -0.7168, -0.7305,
    -2.4770, -0.8328, -2.2444, -0.1673, 1.0921, -0.2156, -0.0402, 0.4649, 1.5095, 0.1132,
    2.5873, 1.2073, 0.6333, 1.0766, 0.2800, 1.6829, -0.8959, 0.8307, -0.2507, 0.6023, 2.3288,
    -0.2365, -1.9080, 0.9535, -2.1272, 1.2812, -1.5143, 1.9257, 0.0951, 0.2352, -0.9947, 1.6421,
    -1.6281, 0.5466, 0.6823, 1.0283, -0.1315, 1.4794, 0.4239, -0.8800, 0.9300, 1.0095, 0.3407,
    0.7926, 2.5675, -1.2079, 0.8852, 1.8033, 0.5034, -0.8031, -0.9064, 0.7477, 2.0409, -0.1879,
    0.1414, 0.7744, 0.3072, 1.0221, 1.8446, 1.9946, -0.5508, 0.2964, -0.7476, 0.2818, 1.3046,
    1.8409, 2.0437, 1.8051, 2.5261, 1.4314, 0.3977, 1.2892, 1.1245, 1.1675, 0.6357, -0.4511,
    -1.1377, 0.0399, 0.2400, 0.7498, -0.9792, 0.2537, -0.4225, 0.7587, -1.5465, 0.8935, -1.0046,
    -0.4093, 0.9745, 1.1649, 0.2990, 1.0792, 1.4213, 0.1490, -0.3478, 1.2738, 2.2234, -3.4181,
    0.1195, -0.0184, -0.2453, 1.6288, -0.6234, 0.8924, 2.3330, 0.7062, -1.2688, 2.1216, 0.7401,
    -1.0781, -0.8252, 1.3686, -0.8744, 0.5241, 1.6669, -3.0029, -0.4073, 1.9581, -1.1039,
    -1.3800, 1.7499, -2.8122, -0.0024, -0.0306, -0.5382, 0.7974, 0.4572, 0.9402, 0.5839,
    -0.8266, -0.9195, 1.9130, 0.2978, -0.0654, 1.3927, 2.2354, -1.4294, 0.0241, 2.0969, -1.5966,
    0.1866, -0.4738, 0.0543, -0.9453, -0.1627, 0.1554, 1.1299, 1.1706, -0.5178, 0.7094, -0.7536,
    2.2025, -2.3837
];

#[rustfmt::skip]
const LABELS: [u32; 40] = [
    0, 2, 1, 1, 0, 0, 2, 3, 1, 1, 0, 1, 3, 2, 0, 3, 2, 3, 0, 0, 2, 3, 2, 2, 2, 3, 2, 0, 0, 2, 1,
    3, 1, 1, 1, 3, 3, 1, 3, 0
];

/// Source softmax outputs over 5 classes, rounded to 4 decimals.
#[rustfmt::skip]
const PREDICTIONS: [f64; 200] = [
    0.7604, 0.0611, 0.0174, 0.0468, 0.1143, 0.1060, 0.0869, 0.6022, 0.1025, 0.1023, 0.0352,
    0.7905, 0.0101, 0.1185, 0.0457, 0.2677, 0.1757, 0.0118, 0.2022, 0.3426, 0.1236, 0.2607,
    0.2285, 0.0648, 0.3223, 0.2039, 0.2926, 0.3555, 0.0711, 0.0769, 0.0779, 0.0107, 0.1673,
    0.0720, 0.6722, 0.2624, 0.1022, 0.0331, 0.5162, 0.0861, 0.0563, 0.7485, 0.0562, 0.1308,
    0.0082, 0.5295, 0.3377, 0.0429, 0.0660, 0.0239, 0.3584, 0.3659, 0.1270, 0.0662, 0.0825,
    0.1576, 0.4328, 0.0788, 0.1453, 0.1854, 0.1865, 0.4305, 0.0969, 0.2383, 0.0477, 0.1968,
    0.0643, 0.5812, 0.0633, 0.0944, 0.3063, 0.0140, 0.0301, 0.2481, 0.4015, 0.1754, 0.1824,
    0.0826, 0.2309, 0.3287, 0.2048, 0.0970, 0.4710, 0.0299, 0.1973, 0.1853, 0.0761, 0.4081,
    0.2773, 0.0532, 0.5747, 0.0406, 0.0396, 0.2104, 0.1347, 0.2710, 0.1821, 0.1122, 0.2141,
    0.2207, 0.1415, 0.0212, 0.6730, 0.0650, 0.0993, 0.1226, 0.2513, 0.1006, 0.3198, 0.2057,
    0.1162, 0.0517, 0.5992, 0.1196, 0.1134, 0.0393, 0.0236, 0.1006, 0.8179, 0.0187, 0.2373,
    0.2023, 0.4043, 0.0982, 0.0579, 0.0285, 0.5063, 0.0333, 0.1804, 0.2515, 0.0202, 0.3060,
    0.3313, 0.3098, 0.0326, 0.2845, 0.2666, 0.0860, 0.0592, 0.3037, 0.5280, 0.0529, 0.1232,
    0.2004, 0.0956, 0.4987, 0.0910, 0.2165, 0.0615, 0.1324, 0.0935, 0.5224, 0.1587, 0.1170,
    0.1085, 0.0043, 0.0370, 0.0651, 0.8645, 0.0291, 0.0629, 0.2054, 0.0672, 0.3853, 0.2791,
    0.5552, 0.1671, 0.0449, 0.1976, 0.0352, 0.0181, 0.9510, 0.0024, 0.0199, 0.0086, 0.2855,
    0.1412, 0.0312, 0.4702, 0.0718, 0.0444, 0.1469, 0.2147, 0.2860, 0.3081, 0.0505, 0.3400,
    0.0704, 0.0267, 0.5124, 0.1464, 0.2144, 0.0612, 0.3837, 0.1942, 0.2016, 0.1346, 0.4667,
    0.0763, 0.1209
];

/// A second representation of the same 40 samples (3 wide), for CKA.
#[rustfmt::skip]
const SECOND: [f64; 120] = [
    -1.1237, -0.0821, 2.9810, 0.7574, 3.7816, 3.4315, -2.3660, 4.1958, -5.4519, -0.7979, 1.8596,
    -4.2308, -2.5303, -0.8943, 6.9213, -1.3336, -2.3185, -0.1840, -1.3638, 5.0967, 2.8017,
    -0.4689, 3.5789, -2.3802, -0.7993, -2.6801, -6.9528, -0.2564, 1.7101, -6.0056, -2.2891,
    -0.8031, 4.6108, -1.8068, 2.4757, -1.8505, -1.2821, 2.8756, 2.3340, 0.3990, 1.9960, 1.7160,
    -1.7521, -5.0186, -1.4607, -1.8200, 1.1626, 0.5371, -0.6278, 3.6632, 2.3724, -3.5217,
    0.7466, 2.9213, -1.1021, -2.1952, 4.4346, -2.0878, 0.0026, 4.0103, -1.9366, 2.2234, 4.5931,
    0.7732, 2.6387, 1.5127, 1.5914, 3.0501, -0.8826, -0.3819, 1.4138, 1.2830, -1.5563, 2.8439,
    3.0988, -0.8059, 7.3703, 5.0661, -1.7638, 5.1854, 3.8583, 0.8095, 0.9986, 2.4368, -0.6380,
    -1.2984, 2.5750, -0.0617, 2.4129, 3.2981, 0.6418, 1.6050, -6.5207, -0.8785, 0.5627, 3.2701,
    -0.5473, 2.7674, -0.2538, -0.7574, 1.8920, -6.2849, -1.0214, -1.8103, -6.4713, 0.4018,
    2.3914, 2.2616, 1.2724, 1.8062, 1.8652, -2.3677, 1.7402, -2.7406, 0.4446, -1.2613, -1.5366,
    -1.0400, 1.9141, 7.3370
];

fn close(got: f64, want: f64, rel: f64) {
    assert!(
        (got - want).abs() <= rel * want.abs().max(1e-12),
        "got {got:.12e}, want {want:.12e}"
    );
}

#[test]
fn small_set_matches_the_reference_formulas() {
    close(
        logme(&FEATURES, 6, &LABELS).unwrap(),
        -3.715388946674e-01,
        1e-9,
    );
    close(
        logme_icml(&FEATURES, 6, &LABELS).unwrap(),
        -3.715514006908e-01,
        1e-9,
    );
    close(
        leep(&PREDICTIONS, 5, &LABELS).unwrap(),
        -1.164131193576e+00,
        1e-9,
    );
    let argmax: Vec<u32> = PREDICTIONS
        .chunks(5)
        .map(|r| (0..5).max_by(|&a, &b| r[a].total_cmp(&r[b])).unwrap() as u32)
        .collect();
    close(nce(&argmax, &LABELS).unwrap(), -9.512855349945e-01, 1e-9);
    close(
        hscore(&FEATURES, 6, &LABELS).unwrap(),
        1.960003328868e+00,
        1e-9,
    );
    close(
        hscore_shrunk(&FEATURES, 6, &LABELS).unwrap(),
        1.703890774517e+00,
        1e-9,
    );
    close(
        transrate(&FEATURES, 6, &LABELS, TRANSRATE_EPS).unwrap(),
        1.544285315002e+00,
        1e-9,
    );
    close(
        linear_cka(&FEATURES, 6, &SECOND, 3).unwrap(),
        7.682477102323e-01,
        1e-9,
    );
}

#[test]
fn wide_features_count_every_zero_direction() {
    // The first 12 samples, their 6 features and 20 columns sin(0.7 k), k = 20 i + j: n < D.
    let (n, d) = (12, 26);
    let x: Vec<f64> = (0..n)
        .flat_map(|i| {
            let own = FEATURES[i * 6..i * 6 + 6].to_vec();
            own.into_iter()
                .chain((0..20).map(move |j| (0.7 * (20 * i + j) as f64).sin()))
        })
        .collect();
    let y: Vec<u32> = LABELS[..n].iter().map(|l| l % 2).collect();
    let icml = logme_icml(&x, d, &y).unwrap();
    close(icml, -7.097711347671e-01, 1e-9);
    // The JMLR update reaches the same evidence (its tolerance differs: 1e-3 against 1e-2).
    close(logme(&x, d, &y).unwrap(), icml, 1e-3);
}

/// The whole embedded optdigits set: 1797 samples of 64 pixels in [0, 1], and labels.
fn optdigits() -> (Vec<f32>, Vec<u32>) {
    let s = optdigits_embedded().unwrap();
    let mut x = s.train.x.clone();
    x.extend_from_slice(&s.test.x);
    let mut y = s.train.y.clone();
    y.extend_from_slice(&s.test.y);
    (x, y)
}

#[test]
fn optdigits_matches_the_reference_formulas() {
    let (x, y) = optdigits();
    assert_eq!(y.len(), 1797);
    // Three pixel columns are 0 everywhere: the reference's JMLR code keeps their rounding-level
    // singular values, so it is compared on the 61 others; the ICML form takes all 64.
    let varying: Vec<usize> = (0..64)
        .filter(|&j| x.chunks(64).any(|r| r[j] != x[j]))
        .collect();
    assert_eq!(varying.len(), 61);
    let x61: Vec<f32> = x
        .chunks(64)
        .flat_map(|r| varying.iter().map(|&j| r[j]))
        .collect();
    close(logme(&x61, 61, &y).unwrap(), 2.702776269749e-01, 1e-8);
    close(logme_icml(&x, 64, &y).unwrap(), 2.702772517040e-01, 1e-8);
    // Constant columns add zero directions, which the JMLR form here counts as the ICML does.
    close(logme(&x, 64, &y).unwrap(), 2.702772517040e-01, 1e-5);
    close(hscore(&x, 64, &y).unwrap(), 5.917909336696e+00, 1e-8);
    close(hscore_shrunk(&x, 64, &y).unwrap(), 5.851432997954e+00, 1e-8);
    close(
        transrate(&x, 64, &y, TRANSRATE_EPS).unwrap(),
        2.982833309052e+01,
        1e-8,
    );
    let sq: Vec<f32> = x.iter().map(|v| v * v).collect();
    close(
        linear_cka(&x, 64, &sq, 64).unwrap(),
        9.658560396769e-01,
        1e-8,
    );
}

#[test]
fn bad_input_names_the_score_and_the_fault() {
    let e = logme(&FEATURES, 6, &[1u32; 40]).unwrap_err().to_string();
    assert!(e.starts_with("LogME:") && e.contains("1 class"), "{e}");
    let mut nan = FEATURES;
    nan[6 * 17 + 2] = f64::NAN;
    let e = hscore(&nan, 6, &LABELS).unwrap_err().to_string();
    assert!(
        e.starts_with("H-score:") && e.contains("row 17, column 2 is NaN"),
        "{e}"
    );
    let e = transrate(&FEATURES, 6, &LABELS[..39], TRANSRATE_EPS)
        .unwrap_err()
        .to_string();
    assert!(e.contains("40 rows of features but 39 labels"), "{e}");
    let e = nce(&LABELS[..30], &LABELS).unwrap_err().to_string();
    assert!(e.contains("30 source predictions but 40 labels"), "{e}");
    let logits: Vec<f64> = PREDICTIONS.iter().map(|p| p.ln()).collect();
    let e = leep(&logits, 5, &LABELS).unwrap_err().to_string();
    assert!(
        e.contains("negative") && e.contains("not its logits"),
        "{e}"
    );
}

#[test]
fn scores_rank_informative_features_above_noise() {
    // The optdigits pixels against the same count of features that carry no label
    // information: every score must prefer the pixels.
    let (x, y) = optdigits();
    let noise: Vec<f32> = (0..x.len())
        .map(|i| ((i as u64).wrapping_mul(2_654_435_761) % 1000) as f32 / 1000.0)
        .collect();
    for (name, score) in [
        (
            "logme",
            logme::<f32> as fn(&[f32], usize, &[u32]) -> crate::Result<f64>,
        ),
        ("hscore", hscore::<f32>),
        ("hscore_shrunk", hscore_shrunk::<f32>),
    ] {
        let (good, bad) = (score(&x, 64, &y).unwrap(), score(&noise, 64, &y).unwrap());
        assert!(good > bad, "{name}: pixels {good} <= noise {bad}");
    }
    let good = transrate(&x, 64, &y, TRANSRATE_EPS).unwrap();
    let bad = transrate(&noise, 64, &y, TRANSRATE_EPS).unwrap();
    assert!(good > bad, "transrate: pixels {good} <= noise {bad}");
}
