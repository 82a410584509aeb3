//! Request extractors that document exactly like Dropshot's own (`Path`,
//! `TypedBody`) but answer every failure with a stable `error_code`, and that let
//! the handler decide *when* the body is decoded: a request is authenticated and
//! authorized before its body is looked at, so strangers learn nothing from
//! validation messages.

use std::marker::PhantomData;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use dropshot::{
    ApiEndpointBodyContentType, ExclusiveExtractor, ExtractorMetadata, Header, HttpError, Path,
    Query, RequestContext, ServerContext, SharedExtractor, TypedBody,
};
use http_body_util::BodyExt;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use super::decode_errors::{safe_path, without_values};
use super::errors::ErrorCode;

/// Path parameters of type `T`; a value that does not parse (say, an
/// `account_id` that is not a UUID) is a 400 `invalid_request`.
#[derive(Debug)]
pub struct PathParams<T: JsonSchema + Send + Sync>(T);

impl<T: JsonSchema + Send + Sync> PathParams<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

#[async_trait]
impl<T> SharedExtractor for PathParams<T>
where
    T: DeserializeOwned + JsonSchema + Send + Sync + 'static,
{
    async fn from_request<Context: ServerContext>(
        rqctx: &RequestContext<Context>,
    ) -> Result<Self, HttpError> {
        match <Path<T> as SharedExtractor>::from_request(rqctx).await {
            Ok(path) => Ok(Self(path.into_inner())),
            // Dropshot's message quotes the value; this one says what was
            // expected instead (a path segment may be a misplaced secret).
            Err(_) => Err(ErrorCode::InvalidRequest.with_message(format!(
                "invalid path parameter {}: {}",
                parameter_names::<T>(),
                expected_formats::<T>()
            ))),
        }
    }

    fn metadata(content_type: ApiEndpointBodyContentType) -> ExtractorMetadata {
        <Path<T> as SharedExtractor>::metadata(content_type)
    }
}

/// Query parameters of type `T`, decoded with the failing parameter named: a
/// value of the wrong type, or a parameter the operation does not know (a typo
/// such as `include_revoke` must not silently change the answer), is a 400
/// `invalid_request`.
#[derive(Debug)]
pub struct QueryParams<T: JsonSchema + Send + Sync>(T);

impl<T: JsonSchema + Send + Sync> QueryParams<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

#[async_trait]
impl<T> SharedExtractor for QueryParams<T>
where
    T: DeserializeOwned + JsonSchema + Send + Sync + 'static,
{
    async fn from_request<Context: ServerContext>(
        rqctx: &RequestContext<Context>,
    ) -> Result<Self, HttpError> {
        let query = rqctx.request.uri().query().unwrap_or("");
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(Self)
            .map_err(|error| {
                let path = safe_path(&error.path().to_string());
                let inner = without_values(&error.inner().to_string());
                let message = if path.is_empty() || path == "." {
                    format!("invalid query: {inner}")
                } else {
                    format!("invalid query parameter `{path}`: {inner}")
                };
                ErrorCode::InvalidRequest.with_message(message)
            })
    }

    fn metadata(content_type: ApiEndpointBodyContentType) -> ExtractorMetadata {
        <Query<T> as SharedExtractor>::metadata(content_type)
    }
}

/// Request headers of type `T`: only the headers `T` names are read (unlike
/// Dropshot's `Header`, which refuses a request if *any* header is not
/// visible ASCII), and a value that does not decode is a 400
/// `invalid_request` naming the header.
#[derive(Debug)]
pub struct HeaderParams<T: JsonSchema + Send + Sync>(T);

impl<T: JsonSchema + Send + Sync> HeaderParams<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

#[async_trait]
impl<T> SharedExtractor for HeaderParams<T>
where
    T: DeserializeOwned + JsonSchema + Send + Sync + 'static,
{
    async fn from_request<Context: ServerContext>(
        rqctx: &RequestContext<Context>,
    ) -> Result<Self, HttpError> {
        let headers = rqctx.request.headers();
        let mut values = serde_json::Map::new();
        for name in field_names::<T>() {
            let Some(value) = headers.get(name.as_str()) else {
                continue;
            };
            let value = value.to_str().map_err(|_| {
                ErrorCode::InvalidRequest
                    .with_message(format!("the `{name}` header must be printable ASCII"))
            })?;
            values.insert(name, serde_json::Value::String(value.to_owned()));
        }
        serde_path_to_error::deserialize(serde_json::Value::Object(values))
            .map(Self)
            .map_err(|error| {
                ErrorCode::InvalidRequest.with_message(format!(
                    "invalid `{}` header: {}",
                    safe_path(&error.path().to_string()),
                    without_values(&error.inner().to_string())
                ))
            })
    }

    fn metadata(content_type: ApiEndpointBodyContentType) -> ExtractorMetadata {
        <Header<T> as SharedExtractor>::metadata(content_type)
    }
}

/// The names of `T`'s fields as serialized.
fn field_names<T: JsonSchema>() -> Vec<String> {
    let schema = schemars::r#gen::SchemaGenerator::default().into_root_schema_for::<T>();
    schema
        .schema
        .object
        .map(|object| object.properties.into_keys().collect())
        .unwrap_or_default()
}

/// The names of `T`'s fields, for messages (Dropshot's own message does not say
/// which parameter failed to parse).
fn parameter_names<T: JsonSchema>() -> String {
    let names: Vec<String> = field_names::<T>()
        .into_iter()
        .map(|name| format!("`{name}`"))
        .collect();
    names.join(" or ")
}

/// What each of `T`'s fields must be, from its schema's `format` (`account_id`
/// must be a uuid), for a message that does not repeat the value.
fn expected_formats<T: JsonSchema>() -> String {
    let schema = schemars::r#gen::SchemaGenerator::default().into_root_schema_for::<T>();
    let Some(object) = schema.schema.object else {
        return "the value is not valid there".to_owned();
    };
    let described: Vec<String> = object
        .properties
        .iter()
        .map(|(name, property)| match property {
            schemars::schema::Schema::Object(property) => match &property.format {
                Some(format) => format!("`{name}` must be a {format}"),
                None => format!("`{name}` must be one this operation knows"),
            },
            schemars::schema::Schema::Bool(_) => format!("`{name}` is not valid"),
        })
        .collect();
    described.join(", ")
}

/// A request body of type `T`, read (and size-checked) up front but decoded
/// only when the handler calls `decode`, in the format `F` says.
///
/// Bodies over the endpoint's limit are a 413 `payload_too_large`; a body that
/// does not decode, or is not a `T` (wrong types, missing or unknown fields),
/// is a 400 `invalid_request` whose message names the field.
#[derive(Debug)]
pub struct Body<T, F> {
    bytes: Bytes,
    content_type: Option<http::HeaderValue>,
    _type: PhantomData<fn() -> (T, F)>,
}

/// A JSON body (`application/json`; a body without a `Content-Type` is read
/// as JSON too).
pub type JsonBody<T> = Body<T, Json>;
/// An HTML-form body (`application/x-www-form-urlencoded`), as OAuth endpoints
/// take.
pub type FormBody<T> = Body<T, Form>;

/// How a body is encoded.
pub trait BodyFormat: Send + Sync + 'static {
    const MEDIA_TYPE: &'static str;
    /// Whether a body without a `Content-Type` is taken to be in this format.
    const DEFAULT: bool;
    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, HttpError>;
}

#[derive(Debug)]
pub enum Json {}

#[derive(Debug)]
pub enum Form {}

impl BodyFormat for Json {
    const MEDIA_TYPE: &'static str = "application/json";
    const DEFAULT: bool = true;

    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, HttpError> {
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        let value = serde_path_to_error::deserialize(&mut deserializer)
            .map_err(|error| invalid_body(error.path().to_string(), error.inner()))?;
        deserializer
            .end()
            .map_err(|error| invalid_body(String::new(), &error))?;
        Ok(value)
    }
}

impl BodyFormat for Form {
    const MEDIA_TYPE: &'static str = "application/x-www-form-urlencoded";
    const DEFAULT: bool = false;

    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, HttpError> {
        let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(bytes));
        serde_path_to_error::deserialize(deserializer).map_err(|error| {
            let path = safe_path(&error.path().to_string());
            let inner = without_values(&error.inner().to_string());
            let message = if path.is_empty() || path == "." {
                format!("invalid form body: {inner}")
            } else {
                format!("invalid form body: field `{path}`: {inner}")
            };
            ErrorCode::InvalidRequest.with_message(message)
        })
    }
}

impl<T: DeserializeOwned, F: BodyFormat> Body<T, F> {
    /// The body's bytes as they arrived (what a signature covers).
    pub fn raw(&self) -> &[u8] {
        &self.bytes
    }

    pub fn decode(&self) -> Result<T, HttpError> {
        match &self.content_type {
            None if F::DEFAULT => {}
            None => {
                return Err(ErrorCode::InvalidRequest.with_message(format!(
                    "send the body with Content-Type: {}",
                    F::MEDIA_TYPE
                )));
            }
            Some(content_type) => {
                let content_type = content_type.to_str().map_err(|_| {
                    ErrorCode::InvalidRequest
                        .with_message("the Content-Type header is not valid ASCII")
                })?;
                let media_type = content_type.split(';').next().unwrap_or("").trim();
                if !media_type.eq_ignore_ascii_case(F::MEDIA_TYPE) {
                    return Err(ErrorCode::InvalidRequest.with_message(format!(
                        "the request body must be sent as Content-Type: {} (got {media_type:?})",
                        F::MEDIA_TYPE
                    )));
                }
            }
        }
        F::decode(&self.bytes)
    }
}

impl<T: DeserializeOwned> Body<T, Form> {
    /// The body as a form, or as JSON when sent as `application/json` (the
    /// token endpoint takes both).
    pub fn decode_form_or_json(&self) -> Result<T, HttpError> {
        let json = self.content_type.as_ref().is_some_and(|value| {
            value.to_str().is_ok_and(|text| {
                let media_type = text.split(';').next().unwrap_or("").trim();
                media_type.eq_ignore_ascii_case(Json::MEDIA_TYPE)
            })
        });
        if json {
            Json::decode(&self.bytes)
        } else {
            self.decode()
        }
    }
}

fn invalid_body(path: String, error: &serde_json::Error) -> HttpError {
    let path = safe_path(&path);
    let error = without_values(&error.to_string());
    let message = if path.is_empty() || path == "." {
        format!("invalid request body: {error}")
    } else {
        format!("invalid request body: field `{path}`: {error}")
    };
    ErrorCode::InvalidRequest.with_message(message)
}

/// Longest a request body may take to arrive.
pub const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Most of an oversized body that is read and thrown away before answering, so
/// that the client, still sending, receives the 413 instead of a reset
/// connection; past this the connection is simply closed.
const DRAIN_LIMIT: usize = 1 << 20;
/// Longest the throwing away may take: a client that declares a large body
/// and never sends it must not hold the request (and a shutdown) open.
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

async fn drain(body: &mut dropshot::Body) {
    let mut drained = 0;
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while drained < DRAIN_LIMIT {
            match body.frame().await {
                Some(Ok(frame)) => drained += frame.data_ref().map_or(0, |data| data.len()),
                _ => break,
            }
        }
    })
    .await;
}

#[async_trait]
impl<T, F> ExclusiveExtractor for Body<T, F>
where
    T: JsonSchema + DeserializeOwned + Send + Sync + 'static,
    F: BodyFormat,
{
    async fn from_request<Context: ServerContext>(
        rqctx: &RequestContext<Context>,
        request: http::Request<dropshot::Body>,
    ) -> Result<Self, HttpError> {
        let limit = rqctx.request_body_max_bytes();
        let too_large = || {
            ErrorCode::PayloadTooLarge.with_message(format!(
                "the request body is larger than this operation accepts ({limit} bytes)"
            ))
        };
        let (parts, mut body) = request.into_parts();
        let declared_length = parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared_length.is_some_and(|length| length > limit as u64) {
            drain(&mut body).await;
            return Err(too_large());
        }
        // A body that trickles in (or never comes) must not hold the request
        // forever: this runs before the caller is authenticated.
        let read = async {
            let mut bytes = BytesMut::new();
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|error| {
                    ErrorCode::InvalidRequest
                        .with_message(format!("the request body could not be read: {error}"))
                })?;
                if let Ok(data) = frame.into_data() {
                    if bytes.len() + data.len() > limit {
                        drain(&mut body).await;
                        return Err(too_large());
                    }
                    bytes.extend_from_slice(&data);
                }
            }
            Ok(bytes)
        };
        let bytes = tokio::time::timeout(BODY_READ_TIMEOUT, read)
            .await
            .map_err(|_| {
                ErrorCode::RequestTimeout.with_message(format!(
                    "the request body did not arrive within {} seconds",
                    BODY_READ_TIMEOUT.as_secs()
                ))
            })??;
        Ok(Self {
            bytes: bytes.freeze(),
            content_type: parts.headers.get(http::header::CONTENT_TYPE).cloned(),
            _type: PhantomData,
        })
    }

    fn metadata(content_type: ApiEndpointBodyContentType) -> ExtractorMetadata {
        <TypedBody<T> as ExclusiveExtractor>::metadata(content_type)
    }
}
