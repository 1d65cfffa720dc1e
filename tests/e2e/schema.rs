//! The published contract: `schema.graphql` is what the code generates.

/// Fails when `schema.graphql` differs from the SDL the code generates. Run the test
/// command with `KINBRIDGE_UPDATE_SCHEMA=1` to write the new SDL, then review the diff:
/// a removed or renamed field breaks the municipalities' systems, so deprecate first.
#[test]
fn schema_graphql_matches_the_generated_sdl() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
    let generated = kinbridge_api::sdl();
    if std::env::var("KINBRIDGE_UPDATE_SCHEMA").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &generated).expect("schema.graphql is writable");
    }
    let published = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        published == generated,
        "schema.graphql differs from the schema the code generates; run `KINBRIDGE_UPDATE_SCHEMA=1 cargo test -p kinbridge-e2e --test e2e schema` and review the diff"
    );
}
