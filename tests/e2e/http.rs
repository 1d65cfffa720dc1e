//! GraphQL over HTTP: methods, media types, status codes, limits, request ids.

use kinbridge_domain::organization::OrganizationKind;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{spawn_app, spawn_app_configured};

#[tokio::test]
async fn a_batched_request_is_refused() {
    let app = spawn_app().await;
    let org = app.municipality("Aarhus").await;
    let response = app
        .client
        .post(app.url())
        .bearer_auth(&org.token)
        .json(&json!([{ "query": "{ viewer { subject } }" }, { "query": "{ viewer { subject } }" }]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
}

#[tokio::test]
async fn a_query_over_get_is_answered_and_a_mutation_over_get_is_refused() {
    let app = spawn_app().await;
    let org = app.municipality("Aarhus").await;
    let get = |q: &str| app.client.get(app.url()).bearer_auth(&org.token).query(&[("query", q)]).send();
    let response = get("{ viewer { subject } }").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["viewer"]["subject"], "test-caseworker");

    let response = get("mutation { createFamily(input: { name: \"X\" }) { family { id } } }").await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "POST");
    assert_eq!(app.family_count(&org).await, 0, "nothing was written");
}

#[tokio::test]
async fn the_response_media_type_follows_the_accept_header() {
    let app = spawn_app().await;
    let org = app.municipality("Aarhus").await;
    let post = |accept: &'static str, query: &'static str| {
        app.client
            .post(app.url())
            .bearer_auth(&org.token)
            .header("accept", accept)
            .json(&json!({ "query": query }))
            .send()
    };
    let r = post("application/graphql-response+json", "{ viewer { subject } }").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/graphql-response+json");

    // A document that cannot execute is a 400 in the new media type, a 200 in the old.
    let r = post("application/graphql-response+json", "{ viewer { nosuchfield } }").await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");

    let r = post("application/json", "{ viewer { nosuchfield } }").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/json");
}

#[tokio::test]
async fn a_body_that_is_not_a_graphql_request_is_bad_user_input() {
    let app = spawn_app().await;
    let org = app.municipality("Aarhus").await;
    for (content_type, body) in
        [("application/json", "{not json"), ("application/json", "{\"variables\": 3}"), ("text/plain", "{}")]
    {
        let r = app
            .client
            .post(app.url())
            .bearer_auth(&org.token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error(), "{content_type} {body}: {}", r.status());
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    }
}

#[tokio::test]
async fn an_argument_of_the_wrong_type_is_bad_user_input() {
    let app = spawn_app().await;
    let org = app.municipality("Aarhus").await;
    let r = app.gql(&org.token, "query($d: Int) { families(first: $d) { totalCount } }", json!({ "d": "ten" })).await;
    assert_eq!(r.code(), "BAD_USER_INPUT");
    let r = app.gql(&org.token, "{ family(id: \"not-an-id\") { id } }", json!({})).await;
    assert_eq!(r.code(), "BAD_USER_INPUT");
    assert_eq!(r.field(), "id");
}

#[tokio::test]
async fn the_page_size_drives_the_query_cost() {
    let app = spawn_app().await;
    let org = app.municipality("Aarhus").await;
    let query = |n: u32| {
        format!(
            "{{ families(first: {n}) {{ edges {{ node {{ placements(first: {n}) {{ edges {{ node {{
                contactVisits(first: {n}) {{ edges {{ node {{ id status }} }} }} }} }} }} }} }} }} }}"
        )
    };
    assert!(app.gql(&org.token, &query(5), json!({})).await.body.get("errors").is_none());
    let r = app.gql(&org.token, &query(100), json!({})).await;
    assert_eq!(r.code(), "TOO_COMPLEX");
    assert_eq!(r.body["errors"][0]["extensions"]["limit"], 200_000, "{}", r.body);
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_keeps_the_clients() {
    let app = spawn_app().await;
    let org = app.municipality("Aarhus").await;
    let r = app
        .client
        .post(app.url())
        .bearer_auth(&org.token)
        .json(&json!({ "query": "{ viewer { subject } }" }))
        .send()
        .await
        .unwrap();
    assert!(!r.headers()["x-request-id"].is_empty());
    let r = app
        .client
        .post(app.url())
        .bearer_auth(&org.token)
        .header("x-request-id", "case-system-42")
        .json(&json!({ "query": "{ viewer { subject } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "case-system-42");
}

#[tokio::test]
async fn graphiql_is_served_to_browsers_from_the_binary_and_health_is_reported() {
    let app = spawn_app().await;
    let r = app.client.get(app.url()).header("accept", "text/html").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let policy = r.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(policy.contains("script-src 'self'") && policy.contains("connect-src 'self'"), "{policy}");
    let page = r.text().await.unwrap();
    // Everything the page loads comes from Kinbridge: no address of another host.
    assert!(!page.contains("://"), "the page names another host: {page}");
    for script in ["react.production.min.js", "react-dom.production.min.js", "graphiql.min.js", "kinbridge.js"] {
        assert!(page.contains(&format!("src=\"graphiql/{script}\"")), "{script} is not loaded: {page}");
    }
    // Without a development token to give, the headers say where one comes from.
    assert!(page.contains("a token from your identity provider"), "{page}");
    let base = format!("http://{}", app.addr);
    for (file, media_type, at_least) in [
        ("graphiql.min.js", "text/javascript", 500_000),
        ("graphiql.min.css", "text/css", 100_000),
        ("react.production.min.js", "text/javascript", 5_000),
        ("react-dom.production.min.js", "text/javascript", 100_000),
        ("kinbridge.js", "text/javascript", 100),
    ] {
        let r = app.client.get(format!("{base}/graphiql/{file}")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{file}");
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with(media_type), "{file}");
        assert!(r.bytes().await.unwrap().len() >= at_least, "{file} is not the build it should be");
    }
    let r = app.client.get(format!("{base}/graphiql/..%2FCargo.toml")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.client.get(format!("{base}/health/live")).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(app.client.get(format!("{base}/health/ready")).send().await.unwrap().status(), StatusCode::OK);
    let r = app.client.get(format!("{base}/nothing-here")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_organisation_directory_is_readable_by_every_caller() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    app.org(OrganizationKind::PlacementProvider, "Skovbrynet", &["PLACEMENT_STAFF"]).await;
    let r = app
        .gql(
            &aarhus.token,
            "{ organizations(kind: PLACEMENT_PROVIDER) { totalCount edges { node { name kind } } } }",
            json!({}),
        )
        .await;
    assert_eq!(r.data()["organizations"]["totalCount"], 1);
    assert_eq!(r.data()["organizations"]["edges"][0]["node"]["name"], "Skovbrynet");
}

#[tokio::test]
async fn the_suite_runs_on_the_database_it_was_asked_for() {
    let app = spawn_app().await;
    let expected = if std::env::var("KINBRIDGE_TEST_POSTGRES_URL").is_ok() {
        sea_orm::DbBackend::Postgres
    } else {
        sea_orm::DbBackend::Sqlite
    };
    assert_eq!(app.store.backend(), expected);
}

#[tokio::test]
async fn malformed_requests_get_a_coded_error_and_never_a_server_error() {
    let app = spawn_app().await;
    let org = app.municipality("Aarhus").await;
    let post = |body: Vec<u8>| {
        app.client.post(app.url()).bearer_auth(&org.token).header("content-type", "application/json").body(body).send()
    };
    let deep = format!("{{ {}viewer {{ subject }}{} }}", "viewer { organization { ".repeat(10), " } }".repeat(10));
    let bodies: Vec<Vec<u8>> = vec![
        vec![0xff, 0xfe, 0x00],
        b"{\"query\": 5}".to_vec(),
        b"{\"query\": \"{\"}".to_vec(),
        b"{\"query\": \"{ viewer { subject } }\", \"variables\": \"x\"}".to_vec(),
        json!({ "query": deep }).to_string().into_bytes(),
        json!({ "query": "x".repeat(2 * 1024 * 1024) }).to_string().into_bytes(),
        json!({ "query": "mutation { createFamily(input: { name: \"\\u0000\" }) { family { id } } }" })
            .to_string()
            .into_bytes(),
    ];
    for body in bodies {
        let r = post(body.clone()).await.unwrap();
        let status = r.status();
        assert!(!status.is_server_error(), "{status} for {:?}", String::from_utf8_lossy(&body[..body.len().min(80)]));
        let json: Value = r.json().await.unwrap_or_else(|e| panic!("{status}: not JSON: {e}"));
        let code = json["errors"][0]["extensions"]["code"].as_str().unwrap_or_default();
        let shown: String = json.to_string().chars().take(300).collect();
        let refused = ["BAD_USER_INPUT", "TOO_DEEP", "DOCUMENT_TOO_LARGE", "BODY_TOO_LARGE"];
        assert!(refused.contains(&code), "{status}: {shown}");
    }
    let r = app.client.put(app.url()).bearer_auth(&org.token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    let json: Value = r.json().await.unwrap();
    assert_eq!(json["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(app.family_count(&org).await, 0);
}

#[tokio::test]
async fn a_damaged_row_is_answered_internal_and_logged_once_as_an_error() {
    use sea_orm::ConnectionTrait;
    let app = crate::support::spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let family = app.seed_family(&aarhus, None).await;
    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    db.execute_unprepared("UPDATE family_members SET role = 'KING' WHERE role = 'CHILD'").await.unwrap();
    let r = app
        .gql(
            &aarhus.token,
            "query($f: ID!) { family(id: $f) { members { edges { node { role } } } } }",
            serde_json::json!({ "f": family.id }),
        )
        .await;
    assert_eq!(r.code(), "INTERNAL");
    assert!(!r.message().contains("KING"), "no detail reaches the client: {}", r.message());
    assert_eq!(app.errors_logged(), 1, "the detail is in the log, once");
}

#[tokio::test]
async fn requests_beyond_the_concurrency_limit_wait_their_turn_and_are_answered() {
    let app = crate::support::spawn_app_configured(|c| c.max_concurrent_requests = 1).await;
    let org = app.municipality("Aarhus").await;
    let requests = (0..12).map(|i| {
        app.gql(
            &org.token,
            "mutation($n: String!) { createFamily(input: { name: $n }) { family { name } } }",
            json!({ "n": format!("Family {i}") }),
        )
    });
    let answers = futures_util::future::join_all(requests).await;
    for (i, answer) in answers.iter().enumerate() {
        assert_eq!(answer.data()["createFamily"]["family"]["name"], format!("Family {i}"));
    }
    assert_eq!(app.family_count(&org).await, 12, "every queued request executed once");
    assert_eq!(app.errors_logged(), 0);
}

#[tokio::test]
async fn browsers_of_the_configured_origins_may_call_the_api_and_no_others() {
    let app = crate::support::spawn_app_configured(|c| c.cors_origins = vec!["https://partner.example".into()]).await;
    let org = app.municipality("Aarhus").await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url())
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization, content-type")
            .send()
    };
    let allowed = preflight("https://partner.example").await.unwrap();
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://partner.example");
    let methods = allowed.headers()["access-control-allow-methods"].to_str().unwrap().to_owned();
    assert!(methods.contains("POST"), "{methods}");
    let headers = allowed.headers()["access-control-allow-headers"].to_str().unwrap().to_ascii_lowercase();
    assert!(headers.contains("authorization"), "{headers}");
    let other = preflight("https://evil.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none(), "another origin is not allowed");
    let r = app
        .client
        .post(app.url())
        .header("origin", "https://partner.example")
        .bearer_auth(&org.token)
        .json(&json!({ "query": "{ viewer { subject } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "https://partner.example");
    let exposed = r.headers()["access-control-expose-headers"].to_str().unwrap().to_ascii_lowercase();
    assert!(exposed.contains("x-request-id"), "{exposed}");
    // Off by default: no CORS header at all.
    let plain = spawn_app().await;
    let r = plain
        .client
        .request(reqwest::Method::OPTIONS, plain.url())
        .header("origin", "https://partner.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
}

#[test]
fn a_cors_origin_that_is_not_an_origin_is_refused_at_start() {
    assert!(kinbridge_server::http::cors(&["https://app.example/path".into()]).is_err());
    assert!(kinbridge_server::http::cors(&["app.example".into()]).is_err());
    assert!(
        kinbridge_server::http::cors(&["https://app.example".into(), "http://localhost:3000".into()])
            .unwrap()
            .is_some()
    );
    assert!(kinbridge_server::http::cors(&[]).unwrap().is_none());
}

#[tokio::test]
async fn metrics_count_requests_by_operation_and_outcome_limits_audit_and_the_pool() {
    let app = spawn_app().await;
    let org = app.municipality("Aarhus").await;
    let send = |body: Value, token: &str| app.client.post(app.url()).bearer_auth(token).json(&body).send();
    for _ in 0..3 {
        send(
            json!({ "query": "query CaseworkerPage { families { totalCount } }", "operationName": "CaseworkerPage" }),
            &org.token,
        )
        .await
        .unwrap();
    }
    send(json!({ "query": "{ family(id: \"fam_00000000000000000000000000000000\") { name } }" }), &org.token)
        .await
        .unwrap();
    send(json!({ "query": "{ viewer { subject } }" }), "not-a-token").await.unwrap();
    let aliases: String = (0..150).map(|i| format!(" a{i}: viewer {{ subject }}")).collect();
    send(json!({ "query": format!("{{{aliases} }}") }), &org.token).await.unwrap();

    let r = app.client.get(format!("http://{}/metrics", app.addr)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
    };
    assert_eq!(value(r#"kinbridge_graphql_requests_total{operation="CaseworkerPage",outcome="ok"}"#), 3.0);
    assert_eq!(value(r#"kinbridge_graphql_requests_total{operation="anonymous",outcome="NOT_FOUND"}"#), 1.0);
    assert_eq!(value(r#"kinbridge_graphql_requests_total{operation="anonymous",outcome="UNAUTHENTICATED"}"#), 1.0);
    assert_eq!(value(r#"kinbridge_limits_hit_total{code="TOO_MANY_ALIASES"}"#), 1.0);
    assert_eq!(value(r#"kinbridge_graphql_request_duration_seconds_count{operation="CaseworkerPage"}"#), 3.0);
    assert!(value("kinbridge_audit_write_duration_seconds_count") >= 4.0);
    assert!(value(r#"kinbridge_database_connections{state="idle"}"#) >= 1.0);
    assert!(text.contains("kinbridge_requests_waiting"), "{text}");
    assert!(!text.contains("Aarhus") && !text.contains(&org.token), "nothing personal, no token");
}

#[tokio::test]
async fn metrics_show_how_far_behind_a_change_feed_reader_is() {
    let app = spawn_app().await;
    let org = app.municipality("Aarhus").await;
    for _ in 0..3 {
        app.seed_family(&org, None).await;
    }
    // The oldest unread change is at least this old when the first page is read.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let metrics = || async {
        let text = app.client.get(format!("http://{}/metrics", app.addr)).send().await.unwrap().text().await.unwrap();
        let value = |series: &str| -> f64 {
            text.lines()
                .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
                .unwrap_or_else(|| panic!("no {series} in\n{text}"))
        };
        (
            value("kinbridge_change_feed_lag_seconds_count"),
            value("kinbridge_change_feed_lag_seconds_sum"),
            value(r#"kinbridge_change_feed_lag_seconds_bucket{le="0.0"}"#),
        )
    };
    let page = app.gql(&org.token, "{ changes(first: 1) { pageInfo { hasNextPage } } }", json!({})).await;
    assert_eq!(page.data()["changes"]["pageInfo"]["hasNextPage"], true);
    let (reads, behind, caught_up) = metrics().await;
    assert_eq!(reads, 1.0);
    assert!(behind >= 0.05, "the reader is behind by the age of the second change: {behind}");
    assert_eq!(caught_up, 0.0);

    let rest = app.gql(&org.token, "{ changes(first: 100) { pageInfo { hasNextPage } } }", json!({})).await;
    assert_eq!(rest.data()["changes"]["pageInfo"]["hasNextPage"], false);
    let (reads, _, caught_up) = metrics().await;
    assert_eq!(reads, 2.0);
    assert_eq!(caught_up, 1.0, "a reader that has read everything is 0 behind");
}

#[tokio::test]
async fn a_body_without_a_query_is_400_naming_the_query() {
    let app = spawn_app().await;
    let org = app.municipality("Aarhus").await;
    for body in [json!({ "variables": {} }), json!({ "query": 42 }), json!({})] {
        let r = app.client.post(app.url()).bearer_auth(&org.token).json(&body).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        let answer: Value = r.json().await.unwrap();
        assert_eq!(answer["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{answer}");
        assert_eq!(answer["errors"][0]["extensions"]["field"], "query", "{answer}");
    }
}

#[tokio::test]
async fn a_document_that_never_ran_has_no_data_entry_under_graphql_response_json() {
    let app = spawn_app().await;
    let org = app.municipality("Aarhus").await;
    for query in ["{ viewer { subject ", "{ noSuchField }"] {
        let r = app
            .client
            .post(app.url())
            .bearer_auth(&org.token)
            .header("accept", "application/graphql-response+json")
            .json(&json!({ "query": query }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{query}");
        let answer: Value = r.json().await.unwrap();
        assert!(answer.get("data").is_none(), "no data entry: {answer}");
        assert_eq!(answer["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{answer}");
    }
    // Under application/json, as before: `data` is null.
    let legacy: Value = app
        .client
        .post(app.url())
        .bearer_auth(&org.token)
        .json(&json!({ "query": "{ noSuchField }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(legacy["data"], Value::Null);
    // A query that ran keeps its data entry, whatever it holds.
    let ran: Value = app
        .client
        .post(app.url())
        .bearer_auth(&org.token)
        .header("accept", "application/graphql-response+json")
        .json(&json!({ "query": "{ viewer { subject } }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ran["data"]["viewer"]["subject"], "test-caseworker", "{ran}");
}

#[tokio::test]
async fn answers_keep_the_querys_key_order_and_a_not_found_nullable_field_is_null() {
    let app = spawn_app().await;
    let org = app.municipality("Aarhus").await;
    app.seed_family(&org, None).await;
    let query = "{ families { edges { node { name id } } totalCount } missing: family(id: \"fam_00000000000000000000000000000000\") { name } viewer { subject } }";
    let r = app.client.post(app.url()).bearer_auth(&org.token).json(&json!({ "query": query })).send().await.unwrap();
    let text = r.text().await.unwrap();
    // Key order is in the text itself: serde_json's Value would sort it.
    let at = |key: &str| text.find(&format!("\"{key}\"")).unwrap_or_else(|| panic!("no {key} in {text}"));
    assert!(at("families") < at("missing") && at("missing") < at("viewer"), "{text}");
    assert!(at("edges") < at("totalCount"), "{text}");
    assert!(at("name") < at("id"), "{text}");
    assert!(text.contains("\"missing\":null"), "the field that was not found is null, not left out: {text}");
    assert!(text.contains("NOT_FOUND"), "{text}");
}

/// Apollo's automatic persisted queries: a hash the server does not know is
/// `PersistedQueryNotFound`; the query sent with its hash registers it; the hash alone
/// then runs it, over POST and GET. Another organisation cannot use or probe the hash.
#[tokio::test]
async fn a_persisted_query_runs_by_its_hash_after_it_was_sent_once() {
    use sha2::Digest;
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let randers = app.municipality("Randers").await;
    let query = "query Me { viewer { subject organization { id } } }";
    let hash: String = sha2::Sha256::digest(query.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    let extensions = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
    let post = |token: &str, body: Value| {
        app.client
            .post(app.url())
            .bearer_auth(token)
            .header("accept", "application/graphql-response+json")
            .json(&body)
            .send()
    };

    let miss = post(&aarhus.token, json!({ "extensions": extensions })).await.unwrap();
    assert_eq!(miss.status(), StatusCode::NOT_FOUND);
    let body: Value = miss.json().await.unwrap();
    assert_eq!(body["errors"][0]["message"], "PersistedQueryNotFound");
    assert_eq!(body["errors"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_FOUND");
    assert!(body.get("data").is_none());

    let full = post(&aarhus.token, json!({ "query": query, "extensions": extensions })).await.unwrap();
    assert_eq!(full.status(), StatusCode::OK);
    let answer: Value = full.json().await.unwrap();
    assert_eq!(answer["data"]["viewer"]["organization"]["id"], aarhus.id.to_string());

    let by_hash: Value = post(&aarhus.token, json!({ "extensions": extensions })).await.unwrap().json().await.unwrap();
    assert_eq!(by_hash, answer, "the hash alone answers as the query did");
    let over_get = app
        .client
        .get(app.url())
        .bearer_auth(&aarhus.token)
        .query(&[("operationName", "Me"), ("extensions", &extensions.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(over_get.status(), StatusCode::OK);
    assert_eq!(over_get.json::<Value>().await.unwrap(), answer);

    let elsewhere = post(&randers.token, json!({ "extensions": extensions })).await.unwrap();
    assert_eq!(elsewhere.status(), StatusCode::NOT_FOUND, "kept for the organisation that sent it");

    // Under application/json the miss is 200, as older Apollo clients expect.
    let legacy = app.client.post(app.url()).bearer_auth(&randers.token).json(&json!({ "extensions": extensions }));
    let legacy = legacy.send().await.unwrap();
    assert_eq!(legacy.status(), StatusCode::OK);
    assert_eq!(legacy.json::<Value>().await.unwrap()["errors"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_FOUND");
}

#[tokio::test]
async fn a_persisted_query_with_a_wrong_hash_or_version_is_refused_and_a_mutation_by_hash_needs_post() {
    use sha2::Digest;
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let post = |body: Value| {
        app.client
            .post(app.url())
            .bearer_auth(&aarhus.token)
            .header("accept", "application/graphql-response+json")
            .json(&body)
            .send()
    };
    let wrong = json!({ "query": "{ viewer { subject } }", "extensions": { "persistedQuery": { "version": 1, "sha256Hash": "0".repeat(64) } } });
    let response = post(wrong).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["field"], "extensions.persistedQuery.sha256Hash");
    let version = json!({ "extensions": { "persistedQuery": { "version": 2, "sha256Hash": "0".repeat(64) } } });
    let body: Value = post(version).await.unwrap().json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["field"], "extensions.persistedQuery.version");

    let mutation = "mutation { createFamily(input: { name: \"Hansen\" }) { family { id } } }";
    let hash: String = sha2::Sha256::digest(mutation.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    let extensions = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
    let created: Value =
        post(json!({ "query": mutation, "extensions": extensions })).await.unwrap().json().await.unwrap();
    assert!(created["data"]["createFamily"]["family"]["id"].is_string(), "{created}");
    let over_get = app
        .client
        .get(app.url())
        .bearer_auth(&aarhus.token)
        .query(&[("extensions", extensions.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(over_get.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(app.family_count(&aarhus).await, 1, "the mutation by hash over GET wrote nothing");
}

#[tokio::test]
async fn graphiql_opens_in_development_with_a_caseworker_token_that_works() {
    let app = spawn_app_configured(|config| {
        config.demo = true;
        config.graphiql_dev_token = true;
    })
    .await;
    let page = app.client.get(app.url()).header("accept", "text/html").send().await.unwrap().text().await.unwrap();
    let settings = page
        .split("<script type=\"application/json\" id=\"kinbridge-settings\">")
        .nth(1)
        .and_then(|rest| rest.split("</script>").next())
        .expect("the page carries its settings");
    let settings: Value = serde_json::from_str(settings).unwrap();
    let headers: Value = serde_json::from_str(settings["headers"].as_str().unwrap()).unwrap();
    assert_eq!(settings["fetcherHeaders"], headers);
    let authorization = headers["Authorization"].as_str().unwrap();
    assert!(authorization.starts_with("Bearer ey"), "{authorization}");
    let first_query = settings["query"].as_str().unwrap();
    let r: Value = app
        .client
        .post(app.url())
        .header("authorization", authorization)
        .json(&json!({ "query": first_query }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(r.get("errors").is_none(), "{r}");
    assert_eq!(r["data"]["viewer"]["organization"]["name"], "Aarhus Kommune");
    assert_eq!(r["data"]["viewer"]["roles"], json!(["CASEWORKER"]));
    assert!(r["data"]["families"]["totalCount"].as_i64().unwrap() > 0, "{r}");
}

#[tokio::test]
async fn graphiql_is_not_served_when_turned_off() {
    let app = spawn_app_configured(|config| config.graphiql = false).await;
    let r = app.client.get(app.url()).header("accept", "text/html").send().await.unwrap();
    assert_ne!(r.headers()["content-type"].to_str().unwrap(), "text/html; charset=utf-8");
    let r = app.client.get(format!("http://{}/graphiql/graphiql.min.js", app.addr)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
