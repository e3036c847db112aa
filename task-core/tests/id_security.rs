//! Generated task ids are unguessable: over a million of them there is no duplicate, every one
//! is a well-formed UUID v4, and the 122 random bits show no structure: each bit is set about
//! half the time, successive ids are as unrelated as independent draws, and no two successive
//! ids share a long prefix.
//!
//! The bounds are six standard deviations or more from what independent fair bits give, so a
//! sound generator fails them far less than once in a million runs.

use std::collections::HashSet;
use task_core::generate_task_id;

const IDS: usize = 1_000_000;
/// Bits 48..52 hold the version (4) and bits 64..66 the variant (binary 10), counting from the
/// most significant bit; the other 122 bits are random.
const VERSION_BITS: std::ops::Range<u32> = 48..52;
const VARIANT_BITS: std::ops::Range<u32> = 64..66;

fn random_bit(bit: u32) -> bool {
    !VERSION_BITS.contains(&bit) && !VARIANT_BITS.contains(&bit)
}

/// Adds one to `counts[bit]` for every bit set in `bits`, counting from the most significant.
fn count_set_bits(bits: u128, counts: &mut [u64; 128]) {
    let mut rest = bits;
    while rest != 0 {
        counts[127 - rest.trailing_zeros() as usize] += 1;
        rest &= rest - 1;
    }
}

fn common_prefix(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

#[test]
fn a_million_generated_ids_are_unique_well_formed_and_without_structure() {
    let mut seen = HashSet::with_capacity(IDS);
    let mut ones = [0u64; 128];
    let mut differs_from_previous = [0u64; 128];
    let mut shared_four_hex_digits = 0;
    let mut longest_shared_prefix = 0;
    let mut fewest_differing_bits = u32::MAX;
    let mut previous: Option<(String, u128)> = None;
    let random_mask: u128 = (0..128)
        .filter(|&bit| random_bit(bit))
        .map(|bit| 1u128 << (127 - bit))
        .sum();

    for _ in 0..IDS {
        let text = generate_task_id();
        let uuid = uuid::Uuid::parse_str(&text).expect("a UUID");
        assert_eq!(
            uuid.hyphenated().to_string(),
            text,
            "canonical lowercase form"
        );
        assert_eq!(uuid.get_version_num(), 4, "{text}");
        assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122, "{text}");
        let value = uuid.as_u128();
        assert!(seen.insert(value), "duplicate id {text}");
        count_set_bits(value, &mut ones);
        if let Some((previous_text, previous_value)) = &previous {
            count_set_bits(value ^ previous_value, &mut differs_from_previous);
            let shared = common_prefix(&text, previous_text);
            longest_shared_prefix = longest_shared_prefix.max(shared);
            if shared >= 4 {
                shared_four_hex_digits += 1;
            }
            let differing = ((value ^ previous_value) & random_mask).count_ones();
            fewest_differing_bits = fewest_differing_bits.min(differing);
        }
        previous = Some((text, value));
    }

    // Fair, independent bits: each count is Binomial(n, 1/2), standard deviation sqrt(n)/2.
    let n = IDS as f64;
    let bound = 6.0 * n.sqrt() / 2.0;
    for bit in 0..128u32 {
        let count = ones[bit as usize] as f64;
        if random_bit(bit) {
            assert!(
                (count - n / 2.0).abs() < bound,
                "bit {bit} is set in {count} of {IDS} ids"
            );
            let differs = differs_from_previous[bit as usize] as f64;
            assert!(
                (differs - (n - 1.0) / 2.0).abs() < bound,
                "bit {bit} differs from its predecessor's in {differs} of {IDS} ids"
            );
        } else {
            assert!(
                count == 0.0 || count == n,
                "fixed bit {bit} varies: set in {count} ids"
            );
        }
    }
    // Successive ids share their first four hex digits with probability 16^-4: about 15 times
    // in a million (Poisson); 60 is far out in the tail. Eight shared digits: about 0.0002.
    assert!(
        shared_four_hex_digits <= 60,
        "{shared_four_hex_digits} successive ids share their first four hex digits"
    );
    assert!(
        longest_shared_prefix <= 8,
        "two successive ids share a {longest_shared_prefix}-character prefix"
    );
    // Two independent ids differ in about 61 of the 122 random bits (sd 5.5); fewer than 20
    // would be 7.5 sd out.
    assert!(
        fewest_differing_bits >= 20,
        "two successive ids differ in only {fewest_differing_bits} random bits"
    );
}
