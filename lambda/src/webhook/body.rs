//! Turning a request body into the JSON payload: API Gateway's base64
//! bodies, `application/json`, and GitHub's `application/x-www-form-urlencoded`
//! (`payload=<json>`). Anything else is refused with a message that says
//! which content type to choose.

use base64::Engine;
use serde_json::Value;

use super::rejection::Rejection;

/// API Gateway's own limit on a request body; `serve` applies the same.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// Decodes the body as API Gateway hands it over.
pub fn decode_event_body(body: &str, is_base64: bool) -> Result<Vec<u8>, Rejection> {
    if !is_base64 {
        return Ok(body.as_bytes().to_vec());
    }
    base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .map_err(|_| {
            Rejection::BadPayload("the body is marked base64 but is not valid base64".into())
        })
}

/// The JSON payload of a raw body, by its content type.
pub fn payload(content_type: Option<&str>, body: &[u8]) -> Result<Value, Rejection> {
    let media_type = content_type
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let json: Vec<u8> = match media_type.as_str() {
        "application/json" => body.to_vec(),
        t if t.starts_with("application/") && t.ends_with("+json") => body.to_vec(),
        "application/x-www-form-urlencoded" => {
            let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
                .map_err(|_| Rejection::BadPayload("the form body does not decode".into()))?;
            let payload = fields
                .into_iter()
                .find(|(k, _)| k == "payload")
                .map(|(_, v)| v)
                .ok_or_else(|| {
                    Rejection::BadPayload("the form body has no `payload` field".into())
                })?;
            payload.into_bytes()
        }
        "" => return Err(Rejection::UnsupportedMediaType("no Content-Type".into())),
        other => return Err(Rejection::UnsupportedMediaType(other.to_string())),
    };
    serde_json::from_slice(&json)
        .map_err(|e| Rejection::BadPayload(format!("the body is not valid JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_form_bodies_give_the_same_payload() {
        let json = br#"{"ref":"refs/heads/main"}"#;
        let form = b"payload=%7B%22ref%22%3A%22refs%2Fheads%2Fmain%22%7D";
        let a = payload(Some("application/json; charset=utf-8"), json).unwrap();
        let b = payload(Some("application/x-www-form-urlencoded"), form).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn other_content_types_are_refused_by_name() {
        let err = payload(Some("text/plain"), b"{}").unwrap_err();
        assert_eq!(err, Rejection::UnsupportedMediaType("text/plain".into()));
        assert_eq!(err.status(), 415);
        assert!(err.to_string().contains("application/json"), "{err}");
        assert!(matches!(
            payload(None, b"{}"),
            Err(Rejection::UnsupportedMediaType(_))
        ));
    }

    #[test]
    fn base64_bodies_decode_and_bad_base64_is_refused() {
        assert_eq!(decode_event_body("e30=", true).unwrap(), b"{}");
        assert_eq!(decode_event_body("{}", false).unwrap(), b"{}");
        assert!(matches!(
            decode_event_body("!!", true),
            Err(Rejection::BadPayload(_))
        ));
    }

    #[test]
    fn malformed_json_is_a_bad_payload() {
        for body in [&b"{"[..], b"", b"{\"ref\":", b"\xff\xfe"] {
            assert!(matches!(
                payload(Some("application/json"), body),
                Err(Rejection::BadPayload(_))
            ));
        }
    }
}
