//! Plugins: a directory of `.wasm` files served at `POST /execute/{plugin}`, compiled at start and
//! picked up live.

use crate::{Gateway, client, guest, wait_until};

#[tokio::test(flavor = "multi_thread")]
async fn plugins_are_compiled_at_start_and_picked_up_live() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::copy(guest("exports"), plugins.join("exports.wasm")).unwrap();
    std::fs::write(plugins.join("broken.wasm"), b"not wasm").unwrap();
    let gw = Gateway::start_in(
        dir.path(),
        &format!("plugins = \"{}\"\n", plugins.display()),
    )
    .await;
    let c = client();
    let r = c
        .post(gw.url("/execute/exports?func=greet"))
        .body("ada")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "hello, ada!");
    let r = c
        .post(gw.url("/execute/exports?func=greet"))
        .body(vec![0xff, 0xfe])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "a string export takes UTF-8");
    let r = c
        .post(gw.url("/execute/exports?func=nope"))
        .body("ada")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = c.post(gw.url("/execute/broken")).send().await.unwrap();
    assert_eq!(
        r.status(),
        404,
        "a plugin that does not compile is not served"
    );

    // A new file is served without a restart; a removed one is gone.
    std::fs::copy(guest("exports"), plugins.join("greeter.wasm")).unwrap();
    let greeting = served(&gw, "greeter", 200).await;
    assert_eq!(greeting, "hello, bob!");
    // A broken replacement leaves the version that compiled serving, and a broken file is reported
    // once, not at every look at the directory.
    std::fs::write(plugins.join("greeter.wasm"), b"garbage").unwrap();
    let reports = |plugin: &str| {
        gw.logs()
            .lines()
            .filter(|l| l.contains("plugin does not compile") && l.contains(plugin))
            .count()
    };
    wait_until("the broken replacement reported", || async {
        match reports("greeter") {
            0 => Err(gw.logs()),
            _ => Ok(()),
        }
    })
    .await;
    // Two more files picked up: the directory was looked at twice more since.
    for probe in ["later1", "later2"] {
        std::fs::copy(guest("exports"), plugins.join(format!("{probe}.wasm"))).unwrap();
        served(&gw, probe, 200).await;
    }
    let r = c
        .post(gw.url("/execute/greeter?func=greet"))
        .body("bob")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        (reports("broken"), reports("greeter")),
        (1, 1),
        "{}",
        gw.logs()
    );
    std::fs::remove_file(plugins.join("exports.wasm")).unwrap();
    served(&gw, "exports", 404).await;
}

/// Waits until `POST /execute/{plugin}?func=greet` with `bob` answers `status`, and returns the body.
async fn served(gw: &Gateway, plugin: &str, status: u16) -> String {
    let c = client();
    let url = gw.url(&format!("/execute/{plugin}?func=greet"));
    wait_until(&format!("plugin `{plugin}` answering {status}"), || async {
        let r = c
            .post(&url)
            .body("bob")
            .send()
            .await
            .map_err(|e| e.to_string())?;
        match r.status().as_u16() {
            s if s == status => Ok(r.text().await.unwrap()),
            s => Err(s.to_string()),
        }
    })
    .await
}
