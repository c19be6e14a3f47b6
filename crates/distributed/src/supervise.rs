//! Limits on what a request may cost, on both ends of a worker connection.
//!
//! On a worker ([`Supervised`], applied by the request guard): a response
//! running past the worker's query timeout is cut with `QueryTimeoutError`,
//! which drops the task's stream and so cancels its work; and a task holds
//! one of the worker's task slots ([`TaskSlots`]) until its stream ends.
//! (A task over the worker's memory pool needs nothing here: the error
//! reaches the coordinator as DataFusion's own `ResourcesExhausted`.)
//!
//! On a caller ([`LimitResponses`]): every gRPC message a worker sends back
//! is bounded, from the length its prefix declares, before it is buffered.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{HeaderMap, Request, Response};
use http_body::{Body as HttpBody, Frame};
use tonic::Status;
use tonic::body::Body;
use tonic::codegen::{Bytes, Service};

use dfship_core::exceptions::Exception;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The tasks a worker may run at once.
#[derive(Debug)]
pub struct TaskSlots {
    max: usize,
    used: AtomicUsize,
}

/// One task's slot, given back when dropped.
#[derive(Debug)]
pub struct Slot(Arc<TaskSlots>);

impl TaskSlots {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self { max, used: AtomicUsize::new(0) })
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// A slot, if one is free.
    pub fn take(self: &Arc<Self>) -> Option<Slot> {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.max).then_some(n + 1))
            .ok()
            .map(|_| Slot(Arc::clone(self)))
    }

    pub fn in_use(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.used.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What a worker bounds its responses by.
#[derive(Debug, Clone)]
pub struct Supervision {
    /// The worker's URL, for messages.
    pub url: Arc<str>,
    /// How long any one request may run.
    pub timeout: Option<Duration>,
}

impl Supervision {
    /// `response`, cut at the timeout, holding `slot` until its body ends.
    pub fn apply(&self, response: Response<Body>, slot: Option<Slot>) -> Response<Body> {
        let (parts, body) = response.into_parts();
        let deadline = self.timeout.map(|t| Box::pin(tokio::time::sleep(t)));
        let body = Supervised { inner: body, deadline, supervision: self.clone(), _slot: slot, done: false };
        Response::from_parts(parts, Body::new(body))
    }
}

/// A worker's response body under [`Supervision`].
struct Supervised {
    inner: Body,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    supervision: Supervision,
    _slot: Option<Slot>,
    done: bool,
}

impl HttpBody for Supervised {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        if self.done {
            return Poll::Ready(None);
        }
        if let Some(deadline) = self.deadline.as_mut()
            && deadline.as_mut().poll(cx).is_ready()
        {
            self.done = true;
            // Dropping the body drops the task's stream: its work stops.
            self.inner = Body::empty();
            let timeout = self.supervision.timeout.unwrap_or_default();
            let status = Status::deadline_exceeded(Exception::QueryTimeout.tagged(format_args!(
                "the dfship worker at {} cancelled a task that ran past its --query-timeout of {} s",
                self.supervision.url,
                timeout.as_secs_f64()
            )));
            let mut trailers = HeaderMap::new();
            return match status.add_header(&mut trailers) {
                Ok(()) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
                Err(status) => Poll::Ready(Some(Err(status))),
            };
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(None)
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || (self.inner.is_end_stream() && self.deadline.is_none())
    }
}

/// A caller's channel whose responses are bounded: a message a worker sends
/// back may declare at most `max` bytes.
#[derive(Clone)]
pub struct LimitResponses<S> {
    inner: S,
    max: usize,
}

impl<S> LimitResponses<S> {
    pub fn new(inner: S, max: usize) -> Self {
        Self { inner, max }
    }
}

impl<S> Service<Request<Body>> for LimitResponses<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let (max, authority) = (self.max, request.uri().authority().map(ToString::to_string));
        Box::pin(async move {
            let response = inner.call(request).await?;
            let (parts, body) = response.into_parts();
            let body = Bounded { inner: body, max, authority, prefix: [0; 5], have: 0, left: 0 };
            Ok(Response::from_parts(parts, Body::new(body)))
        })
    }
}

/// A response body checked message by message, without buffering.
struct Bounded {
    inner: Body,
    max: usize,
    authority: Option<String>,
    prefix: [u8; 5],
    /// Bytes of the current prefix seen.
    have: usize,
    /// Bytes of the current message still to come.
    left: usize,
}

impl Bounded {
    /// Follows `data` through message prefixes and bodies: the length the
    /// first prefix over the limit declares.
    fn scan(&mut self, data: &[u8]) -> Option<usize> {
        let mut at = 0;
        while at < data.len() {
            if self.left > 0 {
                let take = self.left.min(data.len() - at);
                self.left -= take;
                at += take;
                continue;
            }
            self.prefix[self.have] = data[at];
            self.have += 1;
            at += 1;
            if self.have == self.prefix.len() {
                self.have = 0;
                let [_, a, b, c, d] = self.prefix;
                let len = u32::from_be_bytes([a, b, c, d]) as usize;
                if len > self.max {
                    return Some(len);
                }
                self.left = len;
            }
        }
        None
    }
}

impl HttpBody for Bounded {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let frame = match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            other => return other,
        };
        if let Some(data) = frame.data_ref()
            && let Some(len) = self.scan(data)
        {
            self.inner = Body::empty();
            let worker = self.authority.as_deref().unwrap_or("a worker");
            return Poll::Ready(Some(Err(Status::resource_exhausted(Exception::PayloadTooLarge.tagged(
                format_args!(
                    "the dfship worker at {worker} sent a message of {len} bytes, over this process's \
                     max_response_bytes of {}",
                    self.max
                ),
            )))));
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounded(max: usize) -> Bounded {
        Bounded { inner: Body::empty(), max, authority: None, prefix: [0; 5], have: 0, left: 0 }
    }

    fn message(len: usize) -> Vec<u8> {
        let mut m = vec![0];
        m.extend_from_slice(&u32::try_from(len).expect("small").to_be_bytes());
        m.extend(std::iter::repeat_n(7u8, len));
        m
    }

    #[test]
    fn messages_are_followed_across_frames() {
        let mut stream = message(10);
        stream.extend(message(3));
        stream.extend(message(11));
        for split in 0..stream.len() {
            let mut b = bounded(10);
            let (a, rest) = stream.split_at(split);
            let found = b.scan(a).or_else(|| b.scan(rest));
            assert_eq!(found, Some(11), "split at {split}");
        }
        let mut b = bounded(11);
        assert_eq!(b.scan(&stream), None);
    }

    #[test]
    fn slots_are_given_back() {
        let slots = TaskSlots::new(2);
        let a = slots.take().expect("a free slot");
        let b = slots.take().expect("a free slot");
        assert!(slots.take().is_none());
        drop(a);
        assert_eq!(slots.in_use(), 1);
        let _c = slots.take().expect("a free slot");
        drop(b);
        assert_eq!(slots.in_use(), 1);
    }
}
