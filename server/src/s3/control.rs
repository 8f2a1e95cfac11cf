//! The S3 Control API's account-level Block Public Access: PutPublicAccessBlock,
//! GetPublicAccessBlock and DeletePublicAccessBlock at `/v20180820/configuration/publicAccessBlock`,
//! for the account the `x-amz-account-id` header names, which must be the requester's own. The
//! setting is stored with the account in the engine; the configuration file's adds to it.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, Uri};
use s3s::dto::PublicAccessBlockConfiguration;
use s3s::route::S3Route;
use s3s::xml::{Deserialize as _, Serialize as _};
use s3s::{Body, S3Request, S3Response, S3Result, s3_error};

use super::acl::{from_dto, no_public_access_block, to_dto};
use crate::account::Accounts;
use crate::acl::PUBLIC_ACCESS_BLOCK;
use crate::error::to_s3;

/// The S3 Control path of the account-level setting.
pub const PUBLIC_ACCESS_BLOCK_PATH: &str = "/v20180820/configuration/publicAccessBlock";
/// The largest PutPublicAccessBlock body read (the document is four booleans).
pub const CONTROL_BODY_BYTES_MAX: usize = 4096;

/// The route, ahead of the S3 operations.
#[derive(Debug)]
pub struct Control {
    pub engine: cairn_engine::Engine,
    pub accounts: Arc<Accounts>,
}

#[async_trait::async_trait]
impl S3Route for Control {
    fn is_match(&self, _method: &Method, uri: &Uri, _headers: &HeaderMap, _extensions: &mut http::Extensions) -> bool {
        uri.path() == PUBLIC_ACCESS_BLOCK_PATH
    }

    async fn call(&self, mut req: S3Request<Body>) -> S3Result<S3Response<Body>> {
        let account = self.accounts.requester(req.credentials.as_ref())?;
        let named = req.headers.get("x-amz-account-id").and_then(|v| v.to_str().ok());
        match named {
            None => return Err(s3_error!(InvalidRequest, "Missing required header x-amz-account-id")),
            Some(id) if id != account.account_id => return Err(s3_error!(AccessDenied, "Access Denied")),
            Some(_) => {}
        }
        let id = account.account_id.clone();
        match req.method {
            Method::GET => {
                let stored = self.engine.get_account_config(&id, PUBLIC_ACCESS_BLOCK);
                let configured = account.public_access_block;
                let block = match stored {
                    Some(stored) => crate::acl::PublicAccessBlock::decode(&stored).union(configured),
                    None if configured != Default::default() => configured,
                    None => return Err(no_public_access_block()),
                };
                let mut xml = Vec::new();
                let mut serializer = s3s::xml::Serializer::new(&mut xml);
                serializer
                    .decl()
                    .and_then(|()| to_dto(block).serialize(&mut serializer))
                    .map_err(|_| s3_error!(InternalError, "could not write the configuration"))?;
                let mut response = S3Response::new(Body::from(Bytes::from(xml)));
                response.headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/xml"));
                Ok(response)
            }
            Method::PUT => {
                let body = req
                    .input
                    .store_all_limited(CONTROL_BODY_BYTES_MAX)
                    .await
                    .map_err(|_| s3_error!(MalformedXML, "The XML you provided was not well-formed"))?;
                let mut deserializer = s3s::xml::Deserializer::new(&body);
                let config = PublicAccessBlockConfiguration::deserialize(&mut deserializer)
                    .map_err(|_| s3_error!(MalformedXML, "The XML you provided was not well-formed"))?;
                let value = from_dto(&config).encode();
                let engine = self.engine.clone();
                spawn(move || engine.put_account_config(&id, PUBLIC_ACCESS_BLOCK, &value)).await?;
                Ok(S3Response::new(Body::empty()))
            }
            Method::DELETE => {
                let engine = self.engine.clone();
                spawn(move || engine.delete_account_config(&id, PUBLIC_ACCESS_BLOCK)).await?;
                let mut response = S3Response::new(Body::empty());
                response.status = Some(http::StatusCode::NO_CONTENT);
                Ok(response)
            }
            _ => {
                let mut error =
                    s3_error!(MethodNotAllowed, "The specified method is not allowed against this resource.");
                error.set_status_code(http::StatusCode::METHOD_NOT_ALLOWED);
                Err(error)
            }
        }
    }
}

async fn spawn(call: impl FnOnce() -> cairn_engine::Result<()> + Send + 'static) -> S3Result<()> {
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|join| s3_error!(InternalError, "engine task failed: {join}"))?
        .map_err(to_s3)
}
