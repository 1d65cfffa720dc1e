//! No log line holds personal data or a token: names, birth dates, national ids, free
//! text and bearer tokens stay out of every line the service writes, at every level it
//! logs, including the lines of refused, failed and over-limit requests.

use serde_json::json;

use crate::support::{kept_log, spawn_app};

#[tokio::test]
async fn no_log_line_holds_personal_data_or_a_token() {
    let app = spawn_app().await;
    let org = app.municipality("Aarhus").await;
    let tag = uuid::Uuid::now_v7().simple().to_string();
    let secret = |what: &str| format!("{what}{}", &tag[20..]);
    let (family, given, surname, national_id, note) =
        (secret("Familyname"), secret("Given"), secret("Surname"), secret("3105"), secret("Worried about"));
    let created = app
        .gql(
            &org.token,
            "mutation($i: CreateFamilyInput!) { createFamily(input: $i) { family { id members { edges { node { person { id } } } } } } }",
            json!({ "i": { "name": family, "caseworkerContact": secret("caseworker@"), "members": [{ "role": "CHILD",
                "person": { "givenName": given, "familyName": surname, "birthDate": "2016-05-31",
                    "identifiers": [{ "kind": "NATIONAL_ID", "system": "CPR", "value": national_id }] } }] } }),
        )
        .await;
    let person = created.data()["createFamily"]["family"]["members"]["edges"][0]["node"]["person"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let noted = app
        .gql(
            &org.token,
            "mutation($i: RecordParentalSupportNoteInput!) { recordParentalSupportNote(input: $i) { client { id } } }",
            json!({ "i": { "clientId": person, "notedOn": "2026-11-30", "text": note } }),
        )
        .await;
    assert!(noted.body.get("data").is_some(), "{}", noted.body);
    // Reads, a refusal naming personal data in its input, a bad token, and an unknown field.
    app.gql(&org.token, "{ families { edges { node { name members { edges { node { person { givenName identifiers { value } } } } } } } } }", json!({})).await;
    app.gql(
        &org.token,
        "query($v: String!) { personByIdentifier(kind: NATIONAL_ID, system: \"CPR\", value: $v) { givenName } }",
        json!({ "v": national_id }),
    )
    .await;
    app.gql(&org.token, "mutation($i: CreateFamilyInput!) { createFamily(input: $i) { family { id } } }",
        json!({ "i": { "name": "", "members": [{ "role": "PARENT", "person": { "givenName": given, "familyName": surname } }] } })).await;
    app.gql(&format!("{}x", org.token), "{ viewer { subject } }", json!({})).await;
    app.gql(&org.token, &format!("{{ families(filter: \"{family}\") {{ totalCount }} }}"), json!({})).await;

    let log = kept_log();
    assert!(log.contains("graphql request handled"), "the log was captured");
    for (what, value) in [
        ("a family name", &family),
        ("a given name", &given),
        ("a family name of a person", &surname),
        ("a national id", &national_id),
        ("free text", &note),
        ("a caseworker contact", &secret("caseworker@")),
        ("the token", &org.token),
        ("the token's signature", &org.token.rsplit('.').next().unwrap().to_owned()),
    ] {
        let line = log.lines().find(|l| l.contains(value.as_str()));
        assert!(line.is_none(), "{what} in a log line: {}", line.unwrap_or_default());
    }
}
