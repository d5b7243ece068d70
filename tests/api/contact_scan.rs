//! Every HTTP answer a test client gets without an operator's token is
//! scanned for an unmasked phone number or e-mail address (DESIGN §6, §10):
//! across the whole test run, whatever the test was about. Operators'
//! answers are left alone: they read report contacts and reveal texts.
//!
//! The scan is a middleware of the test clients' `awc::Client`: it reads
//! each answer's body as the test does and fails the test that received a
//! contact.

use std::cell::RefCell;
use std::rc::Rc;

use actix_service::Service;
use awc::error::{PayloadError, SendRequestError};
use awc::middleware::Transform;
use bytes::Bytes;
use campanile::auth::TokenKeys;
use campanile::domain::Role;
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;

/// The middleware: scans answers to callers other than operators.
pub struct ContactScan {
    pub secret: &'static str,
}

impl<S> Transform<S, awc::ConnectRequest> for ContactScan
where
    S: Service<awc::ConnectRequest, Response = awc::ConnectResponse, Error = SendRequestError> + 'static,
{
    type Transform = ContactScanService<S>;

    fn new_transform(self, service: S) -> Self::Transform {
        ContactScanService {
            inner: Rc::new(service),
            keys: TokenKeys::new(self.secret.as_bytes()).ok().map(Rc::new),
        }
    }
}

pub struct ContactScanService<S> {
    inner: Rc<S>,
    keys: Option<Rc<TokenKeys>>,
}

impl<S> ContactScanService<S> {
    /// Whether the request carries an operator's token.
    fn asked_by_an_operator(&self, req: &awc::ConnectRequest) -> bool {
        let awc::ConnectRequest::Client(head, _, _) = req else {
            return true; // WebSocket tunnels are not HTTP answers
        };
        let header = head
            .as_ref()
            .headers
            .get("authorization")
            .or_else(|| head.extra_headers().and_then(|h| h.get("authorization")))
            .and_then(|v| v.to_str().ok());
        let Some(token) = header.and_then(|h| h.strip_prefix("Bearer ")) else {
            return false;
        };
        self.keys
            .as_ref()
            .and_then(|k| k.verify(token).ok())
            .is_some_and(|p| p.role() == Some(Role::Operator))
    }
}

impl<S> Service<awc::ConnectRequest> for ContactScanService<S>
where
    S: Service<awc::ConnectRequest, Response = awc::ConnectResponse, Error = SendRequestError> + 'static,
{
    type Response = awc::ConnectResponse;
    type Error = SendRequestError;
    type Future = LocalBoxFuture<'static, Result<awc::ConnectResponse, SendRequestError>>;

    actix_service::forward_ready!(inner);

    fn call(&self, req: awc::ConnectRequest) -> Self::Future {
        let scan = !self.asked_by_an_operator(&req);
        let what = match &req {
            awc::ConnectRequest::Client(head, _, _) => format!("{} {}", head.as_ref().method, head.as_ref().uri),
            awc::ConnectRequest::Tunnel(head, _) => head.uri.to_string(),
        };
        let answer = self.inner.call(req);
        Box::pin(async move {
            match answer.await? {
                awc::ConnectResponse::Client(resp) if scan => Ok(awc::ConnectResponse::Client(
                    resp.map_body(|_, payload| scanned(payload, what)),
                )),
                other => Ok(other),
            }
        })
    }
}

/// `payload`, passed on as it arrives; once whole, checked for a contact.
fn scanned(payload: actix_http::Payload, what: String) -> actix_http::Payload {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let keep = seen.clone();
    let chunks = payload.inspect(move |chunk: &Result<Bytes, PayloadError>| {
        if let Ok(bytes) = chunk {
            keep.borrow_mut().extend_from_slice(bytes);
        }
    });
    let check = futures_util::stream::once(async move {
        let body = String::from_utf8_lossy(&seen.borrow()).into_owned();
        assert!(
            !campanile::integrity::pii::contains_contact(&body),
            "a non-operator's answer to {what} holds an unmasked phone number or e-mail address: {body}"
        );
    })
    .filter_map(|()| std::future::ready(None::<Result<Bytes, PayloadError>>));
    actix_http::Payload::Stream {
        payload: Box::pin(chunks.chain(check)),
    }
}
