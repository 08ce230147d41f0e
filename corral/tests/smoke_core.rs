use std::time::Duration;
use tokio::time::{sleep, Instant};

#[tokio::test(start_paused = true)]
async fn smoke() {
    let t0 = Instant::now();
    // hard cancel, never started
    let t = corral::spawn(async {
        panic!("must not run");
        #[allow(unreachable_code)]
        Ok::<(), ()>(())
    });
    assert!(t.cancel_with("msg"));
    let o = t.await;
    assert_eq!(
        o,
        corral::Outcome::Cancelled(corral::Cancelled::with_message("msg"))
    );
    // graceful
    let t = corral::spawn(async {
        tokio::select! {
            _ = corral::cancelled() => { sleep(Duration::from_millis(50)).await; Ok::<u32,()>(42) }
            _ = sleep(Duration::from_secs(10)) => Ok(0),
        }
    });
    tokio::task::yield_now().await;
    t.cancel();
    assert_eq!(t.await, corral::Outcome::Ok(42));
    assert_eq!(t0.elapsed(), Duration::from_millis(50));
    // self-cancel then return
    let t = corral::spawn(async {
        corral::current_task().unwrap().cancel();
        Ok::<u32, ()>(12)
    });
    assert!(t.await.is_cancelled());
    // panic
    let t = corral::spawn(async {
        if true {
            panic!("boom")
        };
        Ok::<u32, ()>(1)
    });
    assert_eq!(
        t.await,
        corral::Outcome::Panicked(corral::Panic::new("boom"))
    );
    // names
    let a = corral::spawn(async { Ok::<_, ()>(corral::current_task().unwrap().name()) });
    let name = a.name();
    assert!(name.starts_with("Task-"));
    assert_eq!(a.await.unwrap(), name);
    // grace expiry
    let t = corral::Builder::new()
        .grace(Duration::from_millis(100))
        .spawn(async {
            let _req = corral::cancelled().await;
            sleep(Duration::from_secs(10)).await;
            Ok::<u32, ()>(1)
        });
    tokio::task::yield_now().await;
    let s = Instant::now();
    t.cancel();
    assert!(t.await.is_cancelled());
    assert_eq!(s.elapsed(), Duration::from_millis(100));
    // propagate
    let t = corral::spawn(async {
        let r = corral::cancelled().await;
        sleep(Duration::from_millis(5)).await;
        r.propagate::<Result<(), ()>>().await
    });
    tokio::task::yield_now().await;
    t.cancel();
    assert!(t.await.is_cancelled());
    // drop aborts
    let t = corral::spawn(async {
        sleep(Duration::from_secs(100)).await;
        Ok::<(), ()>(())
    });
    drop(t);
    tokio::task::yield_now().await;
    assert_eq!(
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks(),
        0
    );
}
