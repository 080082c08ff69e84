//! Content codings (RFC 9110 section 8.4): which precompressed sibling of a file a client
//! gets, read from its `Accept-Encoding` (section 12.5.3).
//!
//! A site that ships `app.css.br` and `app.css.gz` beside `app.css` (made once at build time,
//! at the best compression level, as nginx's `gzip_static` and h2o's `file.send-compressed`
//! expect) sends the smallest body the client can decode, and spends no CPU compressing.
//! Everything here is pure: a header value in, an order of codings out. The files are
//! [`Site`](crate::Site)'s business.

use crate::request::trim_ows;

/// A content coding we serve from a precompressed sibling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coding {
    /// Brotli (RFC 7932), sibling `x.br`.
    Brotli,
    /// gzip (RFC 1952), sibling `x.gz`.
    Gzip,
}

impl Coding {
    /// Every coding we know, in the order we prefer at equal weight: brotli first, because
    /// it is smaller for text (the reason `.br` files are shipped at all).
    pub const ALL: [Coding; 2] = [Coding::Brotli, Coding::Gzip];

    /// The `Content-Encoding` value.
    pub fn name(self) -> &'static str {
        match self {
            Coding::Brotli => "br",
            Coding::Gzip => "gzip",
        }
    }

    /// What the sibling's name adds to the original's: `app.css` -> `app.css.br`.
    pub fn extension(self) -> &'static str {
        match self {
            Coding::Brotli => ".br",
            Coding::Gzip => ".gz",
        }
    }

    /// The entity tag of this coding's bytes, made from the sibling's own tag (`"mtime-size"`)
    /// with the coding appended inside the quotes: `"5f-1c-br"`. Different encodings are
    /// different representations and must never share a tag (RFC 9110 section 8.8.3), even
    /// when their files happen to have the same size and date.
    pub fn tag(self, etag: &str) -> String {
        match etag.strip_suffix('"') {
            Some(open) => format!("{open}-{}\"", self.name()),
            None => etag.to_string(),
        }
    }
}

// ANCHOR: preference
/// The codings worth trying for one request, best first. Try each sibling in this order and
/// send the first that exists; when none does (or the list is empty), send the original.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preference {
    codings: [Coding; 2],
    len: usize,
}

impl Preference {
    /// Nothing but the original.
    pub const IDENTITY: Preference = Preference {
        codings: Coding::ALL,
        len: 0,
    };

    /// The codings, best first.
    pub fn codings(&self) -> &[Coding] {
        &self.codings[..self.len]
    }
}

/// The order in which to try the codings for a request with this `Accept-Encoding`.
///
/// - No field: the original. RFC 9110 would allow any coding, but a client that says nothing
///   (a script, `curl` without `--compressed`) may not decode one, and every server we are
///   measured against sends identity here too.
/// - Weights: a coding is tried when its `q` is above 0 and at least the original's; a
///   higher `q` goes first, brotli before gzip at equal `q`. The original weighs what
///   `identity` (or else `*`) gives it, and nothing when neither is named: section 12.5.3
///   only makes it acceptable by default, so `br;q=0.9` alone still asks for brotli, as it
///   does of nginx and h2o. `*` gives its weight to every coding not named; `x-gzip` is gzip
///   (section 8.4.1.3); names and `q` are case-insensitive; a coding named twice keeps its
///   first weight.
/// - A field that does not follow the grammar (a `q` of 2, a parameter other than `q`, a name
///   that is no token) is read as no preference at all: the original, never an error,
///   because guessing at a broken header could send bytes the client cannot decode.
/// - `identity;q=0` with no acceptable coding still gets the original: a body the client
///   said it dislikes beats a 406 for a static file (nginx and h2o do the same).
pub fn preference(accept_encoding: Option<&str>) -> Preference {
    let Some(weights) = accept_encoding.and_then(Weights::parse) else {
        return Preference::IDENTITY;
    };
    let identity = weights.identity.or(weights.any).unwrap_or(0);
    let mut ranked: Vec<(u16, Coding)> = Vec::with_capacity(2);
    for coding in Coding::ALL {
        let q = weights.of(coding).or(weights.any).unwrap_or(0);
        if q > 0 && q >= identity {
            ranked.push((q, coding));
        }
    }
    // Stable: brotli stays before gzip when the weights tie.
    ranked.sort_by_key(|&(q, _)| std::cmp::Reverse(q));
    let mut preference = Preference::IDENTITY;
    for (_, coding) in ranked {
        preference.codings[preference.len] = coding;
        preference.len += 1;
    }
    preference
}
// ANCHOR_END: preference

/// The weights a field gives, in thousandths (`q=0.5` is 500); `None` where it says nothing.
#[derive(Debug, Default)]
struct Weights {
    brotli: Option<u16>,
    gzip: Option<u16>,
    identity: Option<u16>,
    any: Option<u16>,
}

impl Weights {
    fn of(&self, coding: Coding) -> Option<u16> {
        match coding {
            Coding::Brotli => self.brotli,
            Coding::Gzip => self.gzip,
        }
    }

    /// `#( codings [ OWS ";" OWS "q=" qvalue ] )`, or `None` if the field breaks it.
    /// Empty list elements (`gzip,,br`) are allowed, as section 5.6.1 asks of a recipient.
    fn parse(field: &str) -> Option<Weights> {
        let mut weights = Weights::default();
        for element in field.split(',').map(trim_ows) {
            if element.is_empty() {
                continue;
            }
            let (name, q) = match element.split_once(';') {
                None => (element, 1000),
                Some((name, weight)) => (trim_ows(name), weight_of(trim_ows(weight))?),
            };
            if !is_token(name) {
                return None;
            }
            let slot = if name.eq_ignore_ascii_case("br") {
                &mut weights.brotli
            } else if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
                &mut weights.gzip
            } else if name.eq_ignore_ascii_case("identity") {
                &mut weights.identity
            } else if name == "*" {
                &mut weights.any
            } else {
                // deflate, zstd, compress...: codings we have no siblings for.
                continue;
            };
            slot.get_or_insert(q);
        }
        Some(weights)
    }
}

/// `q=qvalue` (the `q` in either case): `0`, `0.5`, `0.125`, `1`, `1.000`; in thousandths.
fn weight_of(weight: &str) -> Option<u16> {
    let value = weight
        .strip_prefix("q=")
        .or_else(|| weight.strip_prefix("Q="))?;
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{fraction:0<3}").parse::<u16>().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// RFC 9110 section 5.6.2: one or more of the token characters (`*` is one of them).
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Coding::{Brotli, Gzip};

    fn order(field: &str) -> Vec<Coding> {
        preference(Some(field)).codings().to_vec()
    }

    #[test]
    fn no_field_or_an_empty_one_gets_the_original() {
        assert_eq!(preference(None), Preference::IDENTITY);
        assert_eq!(order(""), []);
        assert_eq!(order(" , ,"), []);
        assert_eq!(order("identity"), []);
    }

    #[test]
    fn brotli_wins_a_tie_and_a_higher_q_wins_anyway() {
        assert_eq!(order("gzip, deflate, br"), [Brotli, Gzip]);
        assert_eq!(order("gzip, deflate, br, zstd"), [Brotli, Gzip]);
        assert_eq!(order("gzip"), [Gzip]);
        assert_eq!(order("br"), [Brotli]);
        assert_eq!(order("gzip;q=1.0, br;q=0.9"), [Gzip, Brotli]);
        assert_eq!(order("br;q=0.2, gzip;q=0.8"), [Gzip, Brotli]);
        assert_eq!(order("deflate, zstd"), []);
    }

    #[test]
    fn q_zero_refuses() {
        assert_eq!(order("gzip;q=0, br"), [Brotli]);
        assert_eq!(order("br;q=0, gzip"), [Gzip]);
        assert_eq!(order("br;q=0.000, gzip;q=0"), []);
        assert_eq!(order("*;q=0"), []);
        // A coding named twice keeps its first weight.
        assert_eq!(order("gzip;q=0, gzip"), []);
        assert_eq!(order("gzip, gzip;q=0"), [Gzip]);
    }

    #[test]
    fn star_and_identity_weigh_against_the_codings() {
        assert_eq!(order("*"), [Brotli, Gzip]);
        assert_eq!(order("*;q=0.5, gzip"), [Gzip, Brotli]);
        assert_eq!(order("br;q=0, *"), [Gzip]);
        // The original is preferred unless a coding weighs at least as much.
        assert_eq!(order("gzip;q=0.5, identity"), []);
        assert_eq!(order("gzip;q=0.5, identity;q=0.5"), [Gzip]);
        assert_eq!(order("gzip;q=0.5"), [Gzip]);
        assert_eq!(order("gzip;q=0.5, identity;q=0"), [Gzip]);
        assert_eq!(order("gzip;q=0.5, *;q=0"), [Gzip]);
        assert_eq!(order("identity;q=0"), []);
    }

    #[test]
    fn names_and_q_are_case_insensitive_and_whitespace_is_optional() {
        assert_eq!(order("GZIP, Br"), [Brotli, Gzip]);
        assert_eq!(order("x-gzip"), [Gzip]);
        assert_eq!(order("br ; Q=0.5 ,\tgzip;q=0.25"), [Brotli, Gzip]);
        assert_eq!(order("  gzip  "), [Gzip]);
        assert_eq!(order("gzip,,br"), [Brotli, Gzip]);
    }

    #[test]
    fn a_malformed_field_gets_the_original() {
        for field in [
            "gzip;q=2",
            "gzip;q=1.5",
            "gzip;q=1.001",
            "gzip;q=0.1234",
            "gzip;q=",
            "gzip;q=.5",
            "gzip;q=abc",
            "gzip;q=-1",
            "gzip;level=9",
            "gzip;",
            "gzip q=1",
            "gz\"ip",
            ";q=1",
            "br, gzip;q=x",
        ] {
            assert_eq!(order(field), [], "{field}");
        }
    }

    #[test]
    fn weights_are_read_to_the_thousandth() {
        assert_eq!(weight_of("q=0"), Some(0));
        assert_eq!(weight_of("q=0."), Some(0));
        assert_eq!(weight_of("q=0.5"), Some(500));
        assert_eq!(weight_of("q=0.05"), Some(50));
        assert_eq!(weight_of("q=0.125"), Some(125));
        assert_eq!(weight_of("Q=1.000"), Some(1000));
        assert_eq!(weight_of("q=1."), Some(1000));
        assert_eq!(weight_of("q = 1"), None);
    }

    #[test]
    fn each_coding_has_its_own_tag() {
        assert_eq!(Brotli.tag("\"5f-1c\""), "\"5f-1c-br\"");
        assert_eq!(Gzip.tag("\"5f-1c\""), "\"5f-1c-gzip\"");
    }
}
