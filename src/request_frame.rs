//! The one middleware every request passes through: the size limits
//! (`request_limits`), the request id in scope for every log line and echoed
//! in `X-Request-Id`, the access-log line, the request count, and the
//! `X-Instance-Id` header.
//!
//! One hand-written layer with a named future rather than three
//! `middleware::from_fn` layers: each of those boxed the future of the layers
//! inside it and cloned shared state per request (BENCHMARKS.md,
//! "Micro-benchmarks").

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, ready};

use actix_web::body::{BodySize, EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::HeaderValue;
use actix_web::{ResponseError, web};
use futures_util::future::Either;
use pin_project_lite::pin_project;
use tokio::task::futures::TaskLocalFuture;

use crate::http::prefers_html;
use crate::metrics::Metrics;
use crate::pages::error_page;
use crate::proxy::INSTANCE_ID_HEADER;
use crate::request_limits;
use crate::telemetry::{self, REQUEST_ID_HEADER, RequestId, RequestLine};

/// `App::new().wrap(RequestFrame::new(instance, metrics))`; built once per
/// worker, so nothing in it is shared between cores.
pub struct RequestFrame(Rc<Frame>);

struct Frame {
    instance: HeaderValue,
    /// `None` when `metrics.enabled = false`: then nothing is counted.
    metrics: Option<web::Data<Metrics>>,
}

impl RequestFrame {
    /// The frame for one worker: `instance` is echoed in `X-Instance-Id`.
    pub fn new(instance: &str, metrics: Option<web::Data<Metrics>>) -> Self {
        // A copy per worker: clones of one shared value would contend on
        // its reference count across cores.
        let instance = HeaderValue::from_str(instance).expect("BUG: instance ids are header-safe");
        Self(Rc::new(Frame { instance, metrics }))
    }
}

impl<S, B> Transform<S, ServiceRequest> for RequestFrame
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = RequestFrameService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequestFrameService {
            service,
            frame: self.0.clone(),
        }))
    }
}

/// [`RequestFrame`] around one service.
pub struct RequestFrameService<S> {
    service: S,
    frame: Rc<Frame>,
}

type Answer<B> = Result<ServiceResponse<EitherBody<B>>, actix_web::Error>;

impl<S, B> Service<ServiceRequest> for RequestFrameService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = TaskLocalFuture<RequestId, Either<Ready<Answer<B>>, Framed<S::Future>>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let id = telemetry::request_id(&req);
        let echoed = id.header_value();
        let line = RequestLine::of(&req);
        if let Err(rejected) = request_limits::check(req.request()) {
            let mut answer = rejected.error_response();
            if prefers_html(req.request()) {
                answer = error_page(req.request(), &answer);
            }
            let refused = req.into_response(answer).map_into_right_body();
            let response = finish(&self.frame, refused, echoed, line);
            return telemetry::in_request_scope(id, Either::Left(ready(Ok(response))));
        }
        // The inner layers' synchronous part logs with the id as well.
        let inner = telemetry::in_request_scope_now(id.clone(), || self.service.call(req));
        let framed = Framed {
            inner,
            frame: self.frame.clone(),
            echoed: Some(echoed),
            line,
        };
        telemetry::in_request_scope(id, Either::Right(framed))
    }
}

pin_project! {
    /// The inner layers' answer, then the frame's part of the response.
    pub struct Framed<F> {
        #[pin]
        inner: F,
        frame: Rc<Frame>,
        echoed: Option<HeaderValue>,
        line: Option<RequestLine>,
    }
}

impl<F, B> Future for Framed<F>
where
    F: Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
    B: MessageBody + 'static,
{
    type Output = Answer<B>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let echoed = this
            .echoed
            .take()
            .expect("BUG: Framed polled after completion");
        match result {
            Ok(response) => Poll::Ready(Ok(finish(
                this.frame,
                response.map_into_left_body(),
                echoed,
                this.line.take(),
            ))),
            // Answered by actix-http itself: counted and logged, no headers to add.
            Err(error) => {
                let status = error.as_response_error().status_code();
                if let Some(metrics) = &this.frame.metrics {
                    metrics.request(None, status);
                }
                if let Some(line) = this.line.take() {
                    line.log(status, BodySize::Stream);
                }
                Poll::Ready(Err(error))
            }
        }
    }
}

fn finish<B: MessageBody>(
    frame: &Frame,
    mut response: ServiceResponse<B>,
    echoed: HeaderValue,
    line: Option<RequestLine>,
) -> ServiceResponse<B> {
    let headers = response.headers_mut();
    headers.insert(REQUEST_ID_HEADER, echoed);
    if !headers.contains_key(INSTANCE_ID_HEADER) {
        headers.insert(INSTANCE_ID_HEADER, frame.instance.clone());
    }
    if let Some(metrics) = &frame.metrics {
        metrics.request_to(response.request(), response.status());
    }
    if let Some(line) = line {
        line.log(response.status(), response.response().body().size());
    }
    response
}
