//! `git2s3 rotate webhook-secret` and `rotate deploy-key`, as the real
//! binary, against a stack in moto and GitLab's API in wiremock (paths and
//! bodies from GitLab's REST documentation: project hooks and deploy
//! keys). The provider's list answers follow what was created and deleted,
//! so each run sees the state the last one left. Each test fails the
//! provider part-way once, and checks that the state left works and that
//! running the command again finishes the rotation.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::deploy::{architecture, secret, Install};
use crate::moto::moto;

const TOKEN: &str = "glpat-notARealToken";

/// A GitLab project's hooks or deploy keys, as the API lists them: POST
/// adds one (with the next id), DELETE removes one, GET lists them.
#[derive(Clone, Default)]
struct Listed(Arc<Mutex<Vec<Value>>>);

impl Listed {
    fn items(&self) -> Vec<Value> {
        self.0.lock().unwrap().clone()
    }

    async fn mount(&self, server: &MockServer, base: &str) {
        let list = self.clone();
        Mock::given(method("GET"))
            .and(path(base))
            .respond_with(move |_: &Request| ResponseTemplate::new(200).set_body_json(list.items()))
            .mount(server)
            .await;
        let list = self.clone();
        Mock::given(method("POST"))
            .and(path(base))
            .respond_with(move |r: &Request| {
                let mut item: Value = serde_json::from_slice(&r.body).unwrap();
                let mut items = list.0.lock().unwrap();
                item["id"] = json!(100 + items.len());
                items.push(item.clone());
                ResponseTemplate::new(201).set_body_json(item)
            })
            .mount(server)
            .await;
        let list = self.clone();
        Mock::given(method("DELETE"))
            .and(path_regex(format!("^{base}/[0-9]+$")))
            .respond_with(move |r: &Request| {
                let id: u64 = r.url.path().rsplit('/').next().unwrap().parse().unwrap();
                list.0.lock().unwrap().retain(|i| i["id"] != json!(id));
                ResponseTemplate::new(204)
            })
            .mount(server)
            .await;
    }
}

/// A GitLab stack in moto, its hook registered on acme/api.
fn gitlab_stack(install: &Install, stack: &str, api: &str) -> Value {
    let out = install
        .init_cmd(
            stack,
            "gitlab",
            &[
                "--output",
                "json",
                "--repo",
                "acme/api",
                "--api-url",
                api,
                "--architecture",
                architecture(),
                "--skip-register",
            ],
        )
        .stdout();
    serde_json::from_str(&out).unwrap()
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_string).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn rotate_webhook_secret_updates_every_hook_and_resumes_after_a_failure() {
    let moto = moto();
    let gitlab = MockServer::start().await;
    let install = Install::new(moto);
    let stack = "rotsecret";
    let report = tokio::task::block_in_place(|| gitlab_stack(&install, stack, &gitlab.uri()));
    let id = format!("git2s3/{stack}/webhook-secret");
    let old = secret(moto, &id).await.unwrap();
    let hooks = Listed::default();
    hooks
        .0
        .lock()
        .unwrap()
        .push(json!({"id": 3, "url": report["git_pull_url"], "push_events": true, "token": null}));
    hooks.mount(&gitlab, "/projects/acme%2Fapi/hooks").await;
    // The first update fails, as a GitLab outage would.
    Mock::given(method("PUT"))
        .and(path("/projects/acme%2Fapi/hooks/3"))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&gitlab)
        .await;
    Mock::given(method("PUT"))
        .and(path("/projects/acme%2Fapi/hooks/3"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 3})))
        .mount(&gitlab)
        .await;

    // Without a terminal and without --yes, nothing changes.
    let err = tokio::task::block_in_place(|| {
        install
            .run(["rotate", "webhook-secret"])
            .env("GITLAB_TOKEN", TOKEN)
            .fails()
    });
    assert!(err.contains("pass --yes"), "{err}");
    assert_eq!(secret(moto, &id).await.unwrap(), old);

    let err = tokio::task::block_in_place(|| {
        install
            .run(["rotate", "webhook-secret", "--yes"])
            .env("GITLAB_TOKEN", TOKEN)
            .fails()
    });
    assert!(
        err.contains("run `git2s3 rotate webhook-secret` again"),
        "{err}"
    );
    // Part-way, the receiver accepts both: the new one first, then the old.
    let both = lines(&secret(moto, &id).await.unwrap());
    assert_eq!(both.len(), 2, "{both:?}");
    assert_eq!(both[1], old);
    let new = both[0].clone();
    assert_eq!(new.len(), 64);

    let out = tokio::task::block_in_place(|| {
        install
            .run(["--output", "json", "rotate", "webhook-secret", "--yes"])
            .env("GITLAB_TOKEN", TOKEN)
            .stdout()
    });
    let done: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(done["resumed"], true, "{done}");
    assert_eq!(done["done"], true);
    assert_eq!(done["next"], Value::Null);
    assert_eq!(done["hooks"][0]["target"], "acme/api");
    assert_eq!(done["hooks"][0]["outcome"], "updated");
    // The hook now carries the new secret, and only the new one is stored.
    let puts: Vec<Value> = gitlab
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == "PUT")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(puts.len(), 2);
    for put in &puts {
        assert_eq!(put["token"], new.as_str());
        assert_eq!(put["url"], report["git_pull_url"]);
    }
    assert_eq!(secret(moto, &id).await.unwrap(), new);
    // No secret value reaches the output.
    assert!(!out.contains(&new) && !out.contains(&old));
}

/// The public half of each key in a deploy-key secret, by entry.
fn publics(text: &str) -> Vec<String> {
    let pem = |p: &str| {
        ssh_key::PrivateKey::from_openssh(p)
            .unwrap()
            .public_key()
            .to_openssh()
            .unwrap()
    };
    if text.trim_start().starts_with("-----BEGIN") {
        return vec![pem(text)];
    }
    let map: std::collections::BTreeMap<String, String> = serde_json::from_str(text).unwrap();
    map.values().map(|p| pem(p)).collect()
}

fn material(key: &str) -> String {
    key.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

#[tokio::test(flavor = "multi_thread")]
async fn rotate_deploy_key_adds_the_new_key_before_removing_the_old_and_resumes() {
    let moto = moto();
    let gitlab = MockServer::start().await;
    let install = Install::new(moto);
    let stack = "rotkey";
    let report = tokio::task::block_in_place(|| gitlab_stack(&install, stack, &gitlab.uri()));
    let id = format!("git2s3/{stack}/ssh-deploy-key");
    let old = publics(&secret(moto, &id).await.unwrap()).remove(0);
    assert_eq!(
        material(report["public_key"].as_str().unwrap()),
        material(&old)
    );
    let keys = Listed::default();
    keys.0
        .lock()
        .unwrap()
        .push(json!({"id": 1, "title": format!("git2s3 {stack}"), "key": old, "can_push": false}));
    // The first add fails; every other call goes to the listed keys.
    Mock::given(method("POST"))
        .and(path("/projects/acme%2Fapi/deploy_keys"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&gitlab)
        .await;
    keys.mount(&gitlab, "/projects/acme%2Fapi/deploy_keys")
        .await;

    let err = tokio::task::block_in_place(|| {
        install
            .run(["rotate", "deploy-key", "--yes"])
            .env("GITLAB_TOKEN", TOKEN)
            .fails()
    });
    assert!(err.contains("the old key still works"), "{err}");
    assert!(
        err.contains("run `git2s3 rotate deploy-key` again"),
        "{err}"
    );
    // The worker still reads the old key, which the repository still trusts.
    assert_eq!(publics(&secret(moto, &id).await.unwrap()), [old.as_str()]);
    assert_eq!(keys.items().len(), 1);

    let out = tokio::task::block_in_place(|| {
        install
            .run(["--output", "json", "rotate", "deploy-key", "--yes"])
            .env("GITLAB_TOKEN", TOKEN)
            .stdout()
    });
    let done: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(done["resumed"], true, "{done}");
    assert_eq!(done["done"], true);
    assert_eq!(done["keys"][0]["repo"], "acme/api");
    assert_eq!(done["keys"][0]["added"], "created");
    assert_eq!(done["keys"][0]["removed"], "removed");
    let new = publics(&secret(moto, &id).await.unwrap()).remove(0);
    assert_ne!(material(&new), material(&old));
    // Only the new key is left on the repository, read-only.
    let left = keys.items();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(material(left[0]["key"].as_str().unwrap()), material(&new));
    assert_eq!(left[0]["can_push"], false);
    // Titled after the stack, and the key (Gitea refuses two keys of one title).
    let title = left[0]["title"].as_str().unwrap();
    assert!(title.starts_with(&format!("git2s3 {stack} ")), "{title}");
    // The stack's output and git2s3.yaml name the new key, so the stack
    // plans no change back to the old one.
    let status: Value = serde_json::from_str(&tokio::task::block_in_place(|| {
        install.run(["--output", "json", "status"]).stdout()
    }))
    .unwrap();
    let shown = status["stack"]["outputs"]["PublicSSHKey"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(material(shown), material(&new), "{status}");
    let file = std::fs::read_to_string(install.config()).unwrap();
    assert!(file.contains(&material(&new)), "{file}");
    tokio::task::block_in_place(|| {
        install
            .run(["update-stack", "--diff"])
            .env("GITLAB_TOKEN", TOKEN)
            .stdout()
    });
    // The rotation is over: no staged version is left behind.
    let sm = aws_sdk_secretsmanager::Client::new(&moto.sdk_config().await);
    let described = sm.describe_secret().secret_id(&id).send().await.unwrap();
    let pending = described
        .version_ids_to_stages()
        .into_iter()
        .flatten()
        .filter(|(_, labels)| labels.iter().any(|l| l == "AWSPENDING"))
        .count();
    assert_eq!(pending, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn rotations_on_github_send_requests_its_api_description_accepts() {
    // Prism answers with the description's examples: its hook list names
    // another URL, so the hook is created; its key list holds another key,
    // so the old key is found absent. Each request is validated.
    let moto = moto();
    let prism = crate::prism::prism();
    let install = Install::new(moto);
    let stack = "rotgithub";
    tokio::task::block_in_place(|| {
        install
            .init_cmd(
                stack,
                "github",
                &[
                    "--repo",
                    "acme/api",
                    "--api-url",
                    &prism.url,
                    "--architecture",
                    architecture(),
                    "--skip-register",
                ],
            )
            .stdout()
    });
    for what in ["webhook-secret", "deploy-key"] {
        let out = tokio::task::block_in_place(|| {
            install
                .run(["--output", "json", "rotate", what, "--yes"])
                .env("GITHUB_TOKEN", "ghp_notARealToken")
                .stdout()
        });
        let done: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(done["done"], true, "{what}: {done}");
        match what {
            "webhook-secret" => assert_eq!(done["hooks"][0]["outcome"], "created", "{done}"),
            _ => {
                assert_eq!(done["keys"][0]["added"], "created", "{done}");
                assert_eq!(done["keys"][0]["removed"], "absent", "{done}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn on_a_plain_ssh_server_rotation_stops_for_the_person_and_continue_finishes() {
    let moto = moto();
    let install = Install::new(moto);
    let stack = "rotgeneric";
    tokio::task::block_in_place(|| install.init(stack, &["--skip-register"]));
    let run = |args: &[&str]| -> Value {
        let out = tokio::task::block_in_place(|| {
            install
                .run(["--output", "json", "rotate"])
                .args(args)
                .args(["--yes"])
                .stdout()
        });
        serde_json::from_str(&out).unwrap()
    };
    let id = format!("git2s3/{stack}/webhook-secret");
    let old = secret(moto, &id).await.unwrap();
    let first = run(&["webhook-secret"]);
    assert_eq!(first["done"], false, "{first}");
    assert!(
        first["next"]
            .as_str()
            .unwrap()
            .contains("git2s3 hook install"),
        "{first}"
    );
    let both = lines(&secret(moto, &id).await.unwrap());
    assert_eq!(both[1], old);
    // Run again without --continue: still waiting, nothing new generated.
    assert_eq!(run(&["webhook-secret"])["done"], false);
    assert_eq!(lines(&secret(moto, &id).await.unwrap()), both);
    let last = run(&["webhook-secret", "--continue"]);
    assert_eq!(last["done"], true, "{last}");
    assert_eq!(secret(moto, &id).await.unwrap(), both[0]);

    let key_id = format!("git2s3/{stack}/ssh-deploy-key");
    let old_key = publics(&secret(moto, &key_id).await.unwrap()).remove(0);
    let first = run(&["deploy-key"]);
    assert_eq!(first["done"], false, "{first}");
    let next = first["next"].as_str().unwrap();
    assert!(
        next.contains("authorized_keys") && next.contains("ssh-ed25519"),
        "{next}"
    );
    assert_eq!(
        publics(&secret(moto, &key_id).await.unwrap()),
        [old_key.as_str()]
    );
    let last = run(&["deploy-key", "--continue"]);
    assert_eq!(last["done"], true, "{last}");
    // It names the old key for the person to remove from authorized_keys.
    assert!(
        last["next"].as_str().unwrap().contains(&material(&old_key)),
        "{last}"
    );
    let new_key = publics(&secret(moto, &key_id).await.unwrap()).remove(0);
    assert!(next.contains(&material(&new_key)), "{next}");
}

#[tokio::test(flavor = "multi_thread")]
async fn on_a_terminal_rotation_asks_first_and_a_no_changes_nothing() {
    let moto = moto();
    let install = Install::new(moto);
    let stack = "rotasks";
    tokio::task::block_in_place(|| install.init(stack, &["--skip-register"]));
    let id = format!("git2s3/{stack}/webhook-secret");
    let old = secret(moto, &id).await.unwrap();
    let session = |answer: &str| {
        let (mut cmd, _scratch) = install.run(["rotate", "webhook-secret"]).into_command();
        cmd.env_remove("CI")
            .env("TERM", "xterm")
            .env("NO_COLOR", "1");
        let mut p = rexpect::session::spawn_command(cmd, Some(30_000)).unwrap();
        p.exp_string("Rotate stack rotasks's webhook secret")
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        p.send(answer).unwrap();
        p.flush().unwrap();
        let rest = p.exp_eof().unwrap();
        (rest, p.process.wait().unwrap())
    };
    let (said, exit) = tokio::task::block_in_place(|| session("n"));
    assert!(said.contains("nothing was changed"), "{said}");
    assert!(
        matches!(exit, rexpect::process::wait::WaitStatus::Exited(_, 1)),
        "{exit:?}"
    );
    assert_eq!(secret(moto, &id).await.unwrap(), old);
    let (said, exit) = tokio::task::block_in_place(|| session("y"));
    assert!(said.contains("git2s3 hook install"), "{said}");
    assert!(
        matches!(exit, rexpect::process::wait::WaitStatus::Exited(_, 0)),
        "{exit:?}"
    );
    assert_eq!(lines(&secret(moto, &id).await.unwrap())[1], old);
}

/// Below an org, `register-webhook --all-repos` put the key on repositories
/// `repos` does not list: the rotation gives each one that holds the old
/// key the new one (else the worker could no longer fetch it), and leaves
/// the others alone.
#[tokio::test(flavor = "multi_thread")]
async fn rotate_deploy_key_covers_every_org_repository_that_held_the_old_key() {
    let moto = moto();
    let gitlab = MockServer::start().await;
    let install = Install::new(moto);
    let stack = "rotorg";
    tokio::task::block_in_place(|| {
        install
            .init_cmd(
                stack,
                "gitlab",
                &[
                    "--repo",
                    "acme/api",
                    "--org",
                    "acme",
                    "--api-url",
                    &gitlab.uri(),
                    "--architecture",
                    architecture(),
                    "--skip-register",
                ],
            )
            .stdout()
    });
    let id = format!("git2s3/{stack}/ssh-deploy-key");
    let old = publics(&secret(moto, &id).await.unwrap()).remove(0);
    Mock::given(method("GET"))
        .and(path("/groups/acme/projects"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 1, "path_with_namespace": "acme/api"},
            {"id": 2, "path_with_namespace": "acme/web"},
            {"id": 3, "path_with_namespace": "acme/docs"}
        ])))
        .mount(&gitlab)
        .await;
    let mut lists = Vec::new();
    for (project, has_old) in [("api", true), ("web", true), ("docs", false)] {
        let keys = Listed::default();
        if has_old {
            keys.0.lock().unwrap().push(
                json!({"id": 1, "title": format!("git2s3 {stack}"), "key": old, "can_push": false}),
            );
        }
        keys.mount(&gitlab, &format!("/projects/acme%2F{project}/deploy_keys"))
            .await;
        lists.push((project, keys));
    }
    let out = tokio::task::block_in_place(|| {
        install
            .run(["--output", "json", "rotate", "deploy-key", "--yes"])
            .env("GITLAB_TOKEN", TOKEN)
            .stdout()
    });
    let done: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(done["done"], true, "{done}");
    let new = publics(&secret(moto, &id).await.unwrap()).remove(0);
    for (project, keys) in &lists {
        let held: Vec<String> = keys
            .items()
            .iter()
            .map(|k| material(k["key"].as_str().unwrap()))
            .collect();
        match *project {
            // The new key replaced the old one.
            "api" | "web" => assert_eq!(held, [material(&new)], "{project}: {done}"),
            // It never had the key, and still has none.
            _ => assert!(held.is_empty(), "{project}: {held:?}"),
        }
    }
}
