//! Tenant isolation under a randomized workload (docs/api.md "Authentication and tenancy"): two
//! organizations, each with a live and a test key, issue a few hundred seeded random operations
//! over HTTP — create, get, list, cancel, erase, attempts, and API-key create/list/rename/delete —
//! often aimed at another tenant's objects. A model of what each tenant owns predicts every
//! answer: another tenant's object is a `404` byte-for-byte like a never-issued id, is absent
//! from lists, and the owner's view is exactly the model, whatever the others did.
//!
//! Sessions are scoped to organization *and* environment (a test key sees only test-mode
//! sessions), so the four keys are four session tenants. API keys are scoped to the organization,
//! and a test key sees only its organization's test keys, while a live key manages them all.
//!
//! The seed is printed; set `IDGATE_ISOLATION_SEED` to replay a failing sequence.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

const DEFAULT_SEED: u64 = 20_261_122;
const OPERATIONS: usize = 400;

/// SplitMix64: a tiny deterministic generator, so a printed seed replays the same sequence.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            None
        } else {
            items.get(self.below(items.len()))
        }
    }
}

fn seed() -> u64 {
    let seed = std::env::var("IDGATE_ISOLATION_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    eprintln!("isolation seed: {seed} (replay with IDGATE_ISOLATION_SEED={seed})");
    seed
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SessionState {
    Open,
    Cancelled,
    Erased,
}

/// One API key of the workload: a session tenant (org × environment).
struct Actor {
    name: &'static str,
    org: usize,
    key: String,
}

struct Session {
    id: String,
    owner: usize,
    state: SessionState,
    marker: String,
}

struct Key {
    id: String,
    org: usize,
    /// Plaintext, to show a key is still usable after another organization tried to change it.
    secret: String,
    name: String,
    deleted: bool,
}

struct World<'a> {
    app: &'a TestApp,
    actors: Vec<Actor>,
    sessions: Vec<Session>,
    keys: Vec<Key>,
}

/// A response reduced to what isolation compares: status and parsed body (`Null` if empty).
async fn call(
    app: &TestApp,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app.request_as(key, method.clone(), path);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let bytes = response.bytes().await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "{method} {path}: not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        })
    };
    (status, body)
}

/// Same length and prefix as a real id, never issued.
fn never_issued(id: &str) -> String {
    let (prefix, rest) = id.split_once('_').expect("prefixed id");
    format!("{prefix}_{}", "Z".repeat(rest.len()))
}

impl World<'_> {
    fn key_of(&self, actor: usize) -> &str {
        &self.actors[actor].key
    }

    /// The answer to `method path` for an id that was never issued, by the same actor.
    async fn answer_for_unknown(
        &self,
        actor: usize,
        method: Method,
        path_of: impl Fn(&str) -> String,
        real_id: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let unknown = never_issued(real_id);
        call(
            self.app,
            self.key_of(actor),
            method,
            &path_of(&unknown),
            body,
        )
        .await
    }

    async fn create_session(&mut self, actor: usize, step: usize) {
        let marker = format!("step-{step}");
        let (status, body) = call(
            self.app,
            self.key_of(actor),
            Method::POST,
            "/v1/sessions",
            Some(json!({"metadata": {"marker": marker}})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "create: {body}");
        self.sessions.push(Session {
            id: id_of(&body["data"]),
            owner: actor,
            state: SessionState::Open,
            marker,
        });
    }

    /// Get, cancel, erase or attempts of `session` by `actor`, checked against the model.
    async fn session_operation(&mut self, actor: usize, index: usize, operation: usize) {
        let session = &self.sessions[index];
        let id = session.id.clone();
        let visible = session.owner == actor && session.state != SessionState::Erased;
        let (method, path_of): (Method, fn(&str) -> String) = match operation {
            0 => (Method::GET, |id| format!("/v1/sessions/{id}")),
            1 => (Method::POST, |id| format!("/v1/sessions/{id}/cancel")),
            2 => (Method::DELETE, |id| format!("/v1/sessions/{id}")),
            _ => (Method::GET, |id| format!("/v1/sessions/{id}/attempts")),
        };
        let context = format!(
            "{} {method} {} owned by {} ({:?})",
            self.actors[actor].name,
            path_of(&id),
            self.actors[session.owner].name,
            session.state
        );
        let (status, body) = call(
            self.app,
            self.key_of(actor),
            method.clone(),
            &path_of(&id),
            None,
        )
        .await;
        if !visible {
            let expected = self
                .answer_for_unknown(actor, method, path_of, &id, None)
                .await;
            assert_eq!(
                expected.0,
                StatusCode::NOT_FOUND,
                "{context}: {}",
                expected.1
            );
            assert_eq!(
                (status, body),
                expected,
                "{context}: must be indistinguishable from a never-issued id"
            );
            return;
        }
        let state = session.state;
        match operation {
            0 => {
                assert_eq!(status, StatusCode::OK, "{context}: {body}");
                self.assert_matches_model(index, &body["data"], &context);
            }
            1 => {
                assert_eq!(status, StatusCode::NO_CONTENT, "{context}: {body}");
                self.sessions[index].state = SessionState::Cancelled;
            }
            2 if state == SessionState::Open => {
                assert_eq!(status, StatusCode::CONFLICT, "{context}: {body}");
                assert_eq!(body["error"]["code"], "SESSION_NOT_TERMINAL", "{context}");
            }
            2 => {
                assert_eq!(status, StatusCode::NO_CONTENT, "{context}: {body}");
                self.sessions[index].state = SessionState::Erased;
            }
            _ => {
                assert_eq!(status, StatusCode::OK, "{context}: {body}");
                assert_eq!(body["data"], json!([]), "{context}");
            }
        }
    }

    fn assert_matches_model(&self, index: usize, data: &Value, context: &str) {
        let session = &self.sessions[index];
        let status = match session.state {
            SessionState::Open => "created",
            SessionState::Cancelled => "cancelled",
            SessionState::Erased => unreachable!("erased sessions are not visible"),
        };
        assert_eq!(data["id"], session.id.as_str(), "{context}");
        assert_eq!(data["status"], status, "{context}: {data}");
        assert_eq!(
            data["metadata"]["marker"],
            session.marker.as_str(),
            "{context}"
        );
    }

    /// Every page of `GET /v1/sessions` for `actor` (optionally filtered), as ids.
    async fn listed_sessions(&self, actor: usize, filter: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut query = format!("?limit=100{filter}");
        loop {
            let (status, body) = call(
                self.app,
                self.key_of(actor),
                Method::GET,
                &format!("/v1/sessions{query}"),
                None,
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            items.extend(body["data"].as_array().expect("data").iter().cloned());
            match body["pagination"]["next_cursor"].as_str() {
                Some(cursor) => query = format!("?limit=100{filter}&starting_after={cursor}"),
                None => return items,
            }
        }
    }

    /// The actor's list is exactly its visible sessions of the model, each as the model says.
    async fn check_list(&self, actor: usize, filter_open: bool) {
        let (filter, wanted): (&str, &[SessionState]) = if filter_open {
            ("&status=created", &[SessionState::Open])
        } else {
            ("", &[SessionState::Open, SessionState::Cancelled])
        };
        let listed = self.listed_sessions(actor, filter).await;
        let listed_ids: BTreeSet<&str> = listed.iter().filter_map(|s| s["id"].as_str()).collect();
        assert_eq!(listed_ids.len(), listed.len(), "no duplicates");
        let expected: BTreeSet<&str> = self
            .sessions
            .iter()
            .filter(|s| s.owner == actor && wanted.contains(&s.state))
            .map(|s| s.id.as_str())
            .collect();
        assert_eq!(
            listed_ids, expected,
            "{}'s list{filter} differs from what it owns",
            self.actors[actor].name
        );
        for item in &listed {
            let index = self
                .sessions
                .iter()
                .position(|s| s.id == item["id"].as_str().unwrap_or_default())
                .expect("listed session is known");
            self.assert_matches_model(index, item, "list item");
        }
    }

    async fn create_key(&mut self, actor: usize, step: usize) {
        let name = format!("key-{step}");
        let (status, body) = call(
            self.app,
            self.key_of(actor),
            Method::POST,
            "/v1/api-keys",
            Some(json!({"name": name, "scopes": ["sessions:read"]})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        self.keys.push(Key {
            id: body["data"]["id"].as_str().expect("key id").to_owned(),
            org: self.actors[actor].org,
            secret: body["data"]["key"].as_str().expect("secret").to_owned(),
            name,
            deleted: false,
        });
    }

    /// The keys `actor` lists contain no key of the other organization, and every live key
    /// created by this organization in the actor's environment with its current name.
    async fn check_key_list(&self, actor: usize) {
        let mut listed = BTreeMap::new();
        let mut query = "?limit=100".to_owned();
        loop {
            let (status, body) = call(
                self.app,
                self.key_of(actor),
                Method::GET,
                &format!("/v1/api-keys{query}"),
                None,
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            for key in body["data"].as_array().expect("data") {
                listed.insert(
                    key["id"].as_str().expect("id").to_owned(),
                    key["name"].as_str().expect("name").to_owned(),
                );
            }
            match body["pagination"]["next_cursor"].as_str() {
                Some(cursor) => query = format!("?limit=100&starting_after={cursor}"),
                None => break,
            }
        }
        let org = self.actors[actor].org;
        for key in &self.keys {
            let shown = listed.get(&key.id);
            if key.org != org || key.deleted {
                assert_eq!(
                    shown, None,
                    "{} lists key {}",
                    self.actors[actor].name, key.id
                );
            }
        }
        for key in &self.keys {
            if key.org == org && !key.deleted {
                if self.manages(actor, key) {
                    assert_eq!(shown_name(&listed, &key.id), Some(key.name.as_str()));
                } else {
                    assert_eq!(
                        shown_name(&listed, &key.id),
                        None,
                        "{} (test) lists live key {}",
                        self.actors[actor].name,
                        key.id
                    );
                }
            }
        }
    }

    /// A key of the actor's organization that the actor may see: all of them for a live key,
    /// only test keys for a test key (docs/api.md "Test mode").
    fn manages(&self, actor: usize, key: &Key) -> bool {
        let actor_is_test = self.actors[actor].key.starts_with("kk_test_");
        key.org == self.actors[actor].org
            && !key.deleted
            && (!actor_is_test || key.secret.starts_with("kk_test_"))
    }

    /// Rename or delete `key` as `actor`: a key of another organization is `404` exactly like
    /// a never-issued key id and stays as it was.
    async fn key_operation(&mut self, actor: usize, index: usize, delete: bool, step: usize) {
        let key = &self.keys[index];
        let id = key.id.clone();
        let visible = self.manages(actor, key);
        let new_name = format!("renamed-{step}");
        let (method, body) = if delete {
            (Method::DELETE, None)
        } else {
            (Method::PATCH, Some(json!({"name": new_name})))
        };
        let path_of = |id: &str| format!("/v1/api-keys/{id}");
        let (status, answer) = call(
            self.app,
            self.key_of(actor),
            method.clone(),
            &path_of(&id),
            body.clone(),
        )
        .await;
        let context = format!("{} {method} key {id}", self.actors[actor].name);
        if !visible {
            let expected = self
                .answer_for_unknown(actor, method, path_of, &id, body)
                .await;
            assert_eq!(
                expected.0,
                StatusCode::NOT_FOUND,
                "{context}: {}",
                expected.1
            );
            assert_eq!(
                (status, answer),
                expected,
                "{context}: indistinguishable from unknown"
            );
            if !key.deleted {
                let (status, _) =
                    call(self.app, &key.secret, Method::GET, "/v1/sessions", None).await;
                assert_eq!(
                    status,
                    StatusCode::OK,
                    "{context}: the owner's key still works"
                );
            }
            return;
        }
        if delete {
            assert_eq!(status, StatusCode::NO_CONTENT, "{context}: {answer}");
            self.keys[index].deleted = true;
        } else {
            assert_eq!(status, StatusCode::OK, "{context}: {answer}");
            assert_eq!(answer["data"]["name"], new_name.as_str());
            self.keys[index].name = new_name;
        }
    }
}

fn shown_name<'a>(listed: &'a BTreeMap<String, String>, id: &str) -> Option<&'a str> {
    listed.get(id).map(String::as_str)
}

/// A new key of the organization behind `key`, in `environment`, with every scope.
async fn key_in(app: &TestApp, key: &str, environment: &str) -> String {
    let (status, body) = call(
        app,
        key,
        Method::POST,
        "/v1/api-keys",
        Some(
            json!({"name": "actor", "environment": environment, "scopes":
            ["sessions:read", "sessions:write", "webhooks:read", "webhooks:write", "keys:manage"]}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"]["key"].as_str().expect("secret").to_owned()
}

#[tokio::test]
async fn no_object_of_one_tenant_is_ever_visible_or_changeable_through_another() {
    let seed = seed();
    on_each_backend(|app| async move {
        let other = app.other_org_key().await;
        let actors = vec![
            Actor {
                name: "A/live",
                org: 0,
                key: app.key.clone(),
            },
            Actor {
                name: "A/test",
                org: 0,
                key: key_in(&app, &app.key, "test").await,
            },
            Actor {
                name: "B/live",
                org: 1,
                key: other.clone(),
            },
            Actor {
                name: "B/test",
                org: 1,
                key: key_in(&app, &other, "test").await,
            },
        ];
        let mut world = World {
            app: &app,
            actors,
            sessions: Vec::new(),
            keys: Vec::new(),
        };
        let mut rng = Rng(seed);
        let mut counts = [0usize; 7];
        for step in 0..OPERATIONS {
            let actor = rng.below(world.actors.len());
            let roll = rng.below(100);
            match roll {
                // Creation is frequent early so that the other operations have targets.
                _ if world.sessions.len() < 4 || roll < 22 => {
                    world.create_session(actor, step).await;
                    counts[0] += 1;
                }
                22..=69 => {
                    let operation = rng.below(4);
                    let candidates: Vec<usize> = if rng.below(2) == 0 {
                        // Aim at another tenant's session (or an erased one) half the time.
                        (0..world.sessions.len())
                            .filter(|&i| world.sessions[i].owner != actor)
                            .collect()
                    } else {
                        let own: Vec<usize> = (0..world.sessions.len())
                            .filter(|&i| world.sessions[i].owner == actor)
                            .collect();
                        // Erase mostly what is erasable, so erasure really happens.
                        let cancelled: Vec<usize> = own
                            .iter()
                            .copied()
                            .filter(|&i| world.sessions[i].state == SessionState::Cancelled)
                            .collect();
                        if operation == 2 && !cancelled.is_empty() && rng.below(4) > 0 {
                            cancelled
                        } else {
                            own
                        }
                    };
                    let index = match rng.pick(&candidates) {
                        Some(&index) => index,
                        None => rng.below(world.sessions.len()),
                    };
                    world.session_operation(actor, index, operation).await;
                    counts[1] += 1;
                }
                70..=79 => {
                    world.check_list(actor, rng.below(2) == 0).await;
                    counts[2] += 1;
                }
                80..=86 => {
                    world.create_key(actor, step).await;
                    counts[3] += 1;
                }
                87..=91 => {
                    world.check_key_list(actor).await;
                    counts[4] += 1;
                }
                _ => {
                    if world.keys.is_empty() {
                        world.create_key(actor, step).await;
                        counts[3] += 1;
                    } else {
                        let index = rng.below(world.keys.len());
                        world
                            .key_operation(actor, index, rng.below(3) == 0, step)
                            .await;
                        counts[5] += 1;
                    }
                }
            }
        }
        // Final audit: every tenant's view is exactly what it owns.
        for actor in 0..world.actors.len() {
            world.check_list(actor, false).await;
            world.check_key_list(actor).await;
            for index in 0..world.sessions.len() {
                world.session_operation(actor, index, 0).await;
                counts[6] += 1;
            }
        }
        eprintln!(
            "{:?}: {} sessions ({} erased); operations: create {}, get/cancel/erase/attempts {}, \
             list {}, key create {}, key list {}, key rename/delete {}, audit gets {}",
            app.backend,
            world.sessions.len(),
            world
                .sessions
                .iter()
                .filter(|s| s.state == SessionState::Erased)
                .count(),
            counts[0],
            counts[1],
            counts[2],
            counts[3],
            counts[4],
            counts[5],
            counts[6],
        );
        assert!(
            world
                .sessions
                .iter()
                .any(|s| s.state == SessionState::Erased)
                && world
                    .sessions
                    .iter()
                    .any(|s| s.state == SessionState::Cancelled)
                && world.keys.iter().any(|k| k.deleted),
            "the sequence exercised cancel, erase and key deletion"
        );
    })
    .await;
}
