//! Cost of the pure protocol state machines, without sockets: how many
//! nanoseconds a protocol spends per request. The loop's own cost is measured
//! end to end by the load benchmarks (docs/benchmarks.md).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use reactord::metrics::Metrics;
use reactord::protocol::http::HttpConfig;
use reactord::protocol::{
    Context, Output, Protocol, Verdict, echo::Echo, greeting::Greeting, http::Http,
};
use std::hint::black_box;
use std::time::{Instant, SystemTime};

/// Feed `input` to `protocol` once, the way a connection does, and return
/// how many bytes of output it produced.
fn answer<P: Protocol>(
    protocol: &mut P,
    session: &mut P::Session,
    metrics: &mut Metrics,
    input: &[u8],
    out: &mut Output,
) -> usize {
    let mut ctx = Context {
        now: Instant::now(),
        wall: SystemTime::now(),
        metrics,
    };
    let verdict = protocol.on_input(session, input, &mut ctx, out);
    black_box(verdict);
    out.buffered_len()
}

fn protocols(c: &mut Criterion) {
    let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 1));
    let mut metrics = Metrics::new(Instant::now());
    let mut group = c.benchmark_group("protocol");
    group.throughput(Throughput::Elements(1));

    let mut greeting = Greeting::new("Hola desde el servidor TCP\n", 16384);
    let mut session = greeting.open(peer);
    group.bench_function("greeting_line", |b| {
        b.iter(|| {
            let mut out = Output::default();
            answer(
                &mut greeting,
                &mut session,
                &mut metrics,
                black_box(b"hello server\n"),
                &mut out,
            )
        })
    });

    let mut echo = Echo;
    echo.open(peer);
    let mut session = ();
    let chunk = vec![b'x'; 4096];
    let mut out = Output::default();
    group.bench_function("echo_4k", |b| {
        b.iter(|| {
            out.bytes_mut().clear();
            answer(
                &mut echo,
                &mut session,
                &mut metrics,
                black_box(&chunk),
                &mut out,
            )
        })
    });

    // HTTP: one request, and a pipelined batch of 16 answered in one go.
    let mut http = Http::new(&HttpConfig::default());
    let mut session = http.open(peer);
    let request =
        b"GET / HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n";
    let mut out = Output::default();
    group.bench_function("http_get", |b| {
        b.iter(|| {
            out.bytes_mut().clear();
            answer(
                &mut http,
                &mut session,
                &mut metrics,
                black_box(request),
                &mut out,
            )
        })
    });
    let batch = request.repeat(16);
    group.throughput(Throughput::Elements(16));
    group.bench_function("http_pipelined_16", |b| {
        b.iter(|| {
            out.bytes_mut().clear();
            let mut rest = black_box(&batch[..]);
            let mut ctx = Context {
                now: Instant::now(),
                wall: SystemTime::now(),
                metrics: &metrics,
            };
            while let Verdict::Continue(n) = http.on_input(&mut session, rest, &mut ctx, &mut out) {
                rest = &rest[n..];
            }
            out.buffered_len()
        })
    });
    group.finish();
}

criterion_group!(benches, protocols);
criterion_main!(benches);
