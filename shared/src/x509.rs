//! What both planes read from an X.509 certificate (RFC 5280): only its validity, which
//! decides when the control plane renews a custom domain's certificate and what the data
//! plane reports of the platform certificate it serves. A full parser would be a large
//! dependency for two dates.

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::clock::UnixTime;

/// The validity (not before, not after) of the first certificate of a PEM chain, in Unix
/// seconds; `None` when the text holds no readable certificate.
pub fn leaf_validity(chain_pem: &str) -> Option<(UnixTime, UnixTime)> {
    let leaf = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .next()?
        .ok()?;
    der::validity(&leaf)
}

/// The few DER steps that reach a certificate's validity (RFC 5280 §4.1).
mod der {
    use crate::clock::UnixTime;

    const SEQUENCE: u8 = 0x30;
    const UTC_TIME: u8 = 0x17;
    const GENERALIZED_TIME: u8 = 0x18;
    const EXPLICIT_VERSION: u8 = 0xa0;

    /// `Certificate → tbsCertificate → [version], serial, signature, issuer, validity`.
    pub fn validity(certificate: &[u8]) -> Option<(UnixTime, UnixTime)> {
        let (tag, certificate, _) = element(certificate)?;
        if tag != SEQUENCE {
            return None;
        }
        let (tag, mut tbs, _) = element(certificate)?;
        if tag != SEQUENCE {
            return None;
        }
        let (tag, _, rest) = element(tbs)?;
        if tag == EXPLICIT_VERSION {
            tbs = rest;
        }
        // Serial number, signature algorithm, issuer.
        for _ in 0..3 {
            tbs = element(tbs)?.2;
        }
        let (tag, validity, _) = element(tbs)?;
        if tag != SEQUENCE {
            return None;
        }
        let (tag, not_before, rest) = element(validity)?;
        let not_before = time(tag, not_before)?;
        let (tag, not_after, _) = element(rest)?;
        Some((not_before, time(tag, not_after)?))
    }

    /// The first element of `input`: its tag, its contents, and what follows it.
    fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = input.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (length, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 || rest.len() < count {
                return None;
            }
            let (bytes, rest) = rest.split_at(count);
            let length = bytes
                .iter()
                .fold(0usize, |length, &byte| (length << 8) | usize::from(byte));
            (length, rest)
        };
        if rest.len() < length {
            return None;
        }
        let (contents, rest) = rest.split_at(length);
        Some((tag, contents, rest))
    }

    /// `YYMMDDHHMMSSZ` (UTCTime, years 1950 to 2049) or `YYYYMMDDHHMMSSZ` (GeneralizedTime).
    fn time(tag: u8, contents: &[u8]) -> Option<UnixTime> {
        let text = std::str::from_utf8(contents).ok()?.strip_suffix('Z')?;
        let (year, rest) = match (tag, text.len()) {
            (UTC_TIME, 12) => {
                let short: i32 = text.get(..2)?.parse().ok()?;
                (
                    if short < 50 {
                        2000 + short
                    } else {
                        1900 + short
                    },
                    &text[2..],
                )
            }
            (GENERALIZED_TIME, 14) => (text.get(..4)?.parse().ok()?, &text[4..]),
            _ => return None,
        };
        let field = |at: usize| -> Option<u8> { rest.get(at..at + 2)?.parse().ok() };
        let month = time::Month::try_from(field(0)?).ok()?;
        let date = time::Date::from_calendar_date(year, month, field(2)?).ok()?;
        let clock = time::Time::from_hms(field(4)?, field(6)?, field(8)?).ok()?;
        Some(date.with_time(clock).assume_utc().unix_timestamp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate(not_before: (i32, u8, u8), not_after: (i32, u8, u8)) -> String {
        let mut params =
            rcgen::CertificateParams::new(vec!["login.example.com".to_owned()]).expect("params");
        params.not_before = rcgen::date_time_ymd(not_before.0, not_before.1, not_before.2);
        params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
        let key = rcgen::KeyPair::generate().expect("key");
        params.self_signed(&key).expect("certificate").pem()
    }

    #[test]
    fn validity_is_read_from_the_leaf_in_both_time_forms() {
        // rcgen writes UTCTime up to 2049 and GeneralizedTime from 2050 (RFC 5280 §4.1.2.5).
        let pem = certificate((2026, 12, 4), (2027, 3, 4));
        assert_eq!(leaf_validity(&pem), Some((1_796_342_400, 1_804_118_400)));
        let pem = certificate((2049, 6, 1), (2051, 1, 2));
        assert_eq!(leaf_validity(&pem), Some((2_506_118_400, 2_556_230_400)));
        let chain = format!("{}{}", certificate((2026, 1, 1), (2026, 4, 1)), pem);
        assert_eq!(
            leaf_validity(&chain).map(|(from, _)| from),
            Some(1_767_225_600)
        );
    }

    #[test]
    fn what_is_not_a_certificate_has_no_validity() {
        assert_eq!(leaf_validity(""), None);
        assert_eq!(leaf_validity("not pem"), None);
        let garbage = "-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n";
        assert_eq!(leaf_validity(garbage), None);
        let pem = certificate((2026, 12, 4), (2027, 3, 4));
        let der = CertificateDer::from_pem_slice(pem.as_bytes()).expect("der");
        for cut in [1, 10, 100, der.len() / 2] {
            assert_eq!(der::validity(&der[..cut]), None, "cut at {cut}");
        }
    }
}
