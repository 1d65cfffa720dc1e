//! `kinbridge organizations …`: the organisation registry, kept by an operator.
//!
//! Tokens name an organisation that must be registered and enabled, so a production
//! database is usable only once its organisations are in. `import` reads a list (CSV
//! with a `kind,code,name` header, or a JSON array of `{"kind", "code", "name"}`) and
//! makes the registry hold it: an organisation is known by its kind and code, so an import
//! run twice changes nothing the second time, and a changed name is a rename. The whole
//! file is checked before anything is written; `--dry-run` stops there and tells what an
//! import would do. `add`, `list`, `disable` and `enable` do one thing each. Every change
//! is a write like any other: audited, in Kinbridge's name.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use kinbridge_domain::ids::OrganizationId;
use kinbridge_domain::organization::{NewOrganization, OrganizationKind};
use kinbridge_domain::sharing::ConsentAge;
use kinbridge_persistence::organizations::RegistryOutcome;
use kinbridge_persistence::records::Organization;
use kinbridge_persistence::{PageRequest, Store};

use crate::{CommandResult, DatabaseArgs};

#[derive(Debug, Clone, clap::Args)]
pub struct OrganizationsArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(subcommand)]
    pub command: OrganizationsCommand,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum OrganizationsCommand {
    /// Register the organisations of a CSV or JSON file, or rename them; report what
    /// was added, changed and left as it was.
    Import {
        /// CSV with a `kind,code,name` header, or a JSON array of objects with those keys.
        file: PathBuf,
        /// Check the file and report what an import would do, writing nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Register one organisation.
    Add {
        /// MUNICIPALITY, PLACEMENT_PROVIDER, FAMILY_SERVICES_PROVIDER or MENTAL_HEALTH_AUTHORITY.
        #[arg(long)]
        kind: String,
        /// The official code, such as the municipality number; unique within the kind.
        #[arg(long)]
        code: String,
        #[arg(long)]
        name: String,
    },
    /// List the registered organisations, with their ids (the `org` a token carries).
    List {
        #[arg(long)]
        kind: Option<String>,
    },
    /// Refuse the tokens of an organisation from now on; its records stay.
    Disable {
        /// The organisation: its id (`org_…`) or `KIND:CODE`.
        organization: String,
    },
    /// Accept the tokens of a disabled organisation again.
    Enable {
        /// The organisation: its id (`org_…`) or `KIND:CODE`.
        organization: String,
    },
    /// Change an organisation's settings.
    Configure {
        /// The organisation: its id (`org_…`) or `KIND:CODE`.
        organization: String,
        /// The age, from 12 to 18, from which a young person of the organisation's families
        /// gives consent about their own case (default 15); below it a parent with parental
        /// responsibility does.
        #[arg(long)]
        young_person_consent_age: i64,
    },
}

pub async fn run(args: OrganizationsArgs) -> CommandResult {
    let store = Store::connect(&args.database.database_url, &kinbridge_persistence::StoreOptions::default()).await?;
    store.migrate().await?;
    match args.command {
        OrganizationsCommand::Import { file, dry_run } => {
            let entries = read_file(&file)?;
            let report = import(&store, &entries, dry_run).await?;
            print!("{report}");
        }
        OrganizationsCommand::Add { kind, code, name } => {
            let kind = parse_kind(&kind)?;
            let new = NewOrganization::parse(kind, &name, &code).map_err(|e| e.to_string())?;
            if store.organization_by_code(kind, new.code.as_str()).await?.is_some() {
                return Err(format!("a {kind} with code {code} is already registered").into());
            }
            let id = store.create_organization(&new).await?;
            println!("added {id} {kind} {} {}", new.code.as_str(), new.name.as_str());
        }
        OrganizationsCommand::List { kind } => {
            let kind = kind.as_deref().map(parse_kind).transpose()?;
            print!("{}", list(&store, kind).await?);
        }
        OrganizationsCommand::Disable { organization } => {
            let org = find(&store, &organization).await?;
            let changed = store.set_organization_disabled(org.id, true).await?;
            println!("{} {} {} {}", if changed { "disabled" } else { "already disabled:" }, org.id, org.kind, org.code);
        }
        OrganizationsCommand::Enable { organization } => {
            let org = find(&store, &organization).await?;
            let changed = store.set_organization_disabled(org.id, false).await?;
            println!("{} {} {} {}", if changed { "enabled" } else { "already enabled:" }, org.id, org.kind, org.code);
        }
        OrganizationsCommand::Configure { organization, young_person_consent_age } => {
            let age = ConsentAge::new(young_person_consent_age)
                .map_err(|e| format!("--young-person-consent-age {}", e.message))?;
            let org = find(&store, &organization).await?;
            let changed = store.set_young_person_consent_age(org.id, age).await?;
            let verb = if changed { "configured" } else { "already so:" };
            println!("{verb} {} {} {} young-person-consent-age {}", org.id, org.kind, org.code, age.years());
        }
    }
    Ok(())
}

/// One organisation of an import file, checked, with the line it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub line: usize,
    pub organization: NewOrganization,
}

/// What an import did or, in a dry run, would do.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub dry_run: bool,
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub left: usize,
}

impl std::fmt::Display for ImportReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verb = if self.dry_run { "would be " } else { "" };
        for line in &self.added {
            writeln!(f, "{verb}added: {line}")?;
        }
        for line in &self.changed {
            writeln!(f, "{verb}changed: {line}")?;
        }
        writeln!(
            f,
            "{} added, {} changed, {} left as they were{}",
            self.added.len(),
            self.changed.len(),
            self.left,
            if self.dry_run { " (dry run: nothing was written)" } else { "" }
        )
    }
}

/// Makes the registry hold `entries`; with `dry_run`, only tells what that would do.
pub async fn import(
    store: &Store,
    entries: &[Entry],
    dry_run: bool,
) -> Result<ImportReport, Box<dyn std::error::Error>> {
    let mut report = ImportReport { dry_run, ..ImportReport::default() };
    for Entry { organization: new, .. } in entries {
        let what = format!("{} {} {}", new.kind, new.code.as_str(), new.name.as_str());
        if dry_run {
            match store.organization_by_code(new.kind, new.code.as_str()).await? {
                None => report.added.push(what),
                Some(found) if found.name != new.name.as_str() => {
                    report.changed.push(format!("{what} (was {})", found.name));
                }
                Some(_) => report.left += 1,
            }
            continue;
        }
        match store.register_or_rename_organization(new).await? {
            (id, RegistryOutcome::Added) => report.added.push(format!("{id} {what}")),
            (id, RegistryOutcome::Renamed { from }) => report.changed.push(format!("{id} {what} (was {from})")),
            (_, RegistryOutcome::Unchanged) => report.left += 1,
        }
    }
    Ok(report)
}

/// Reads and checks an import file: JSON when it starts with `[`, CSV otherwise. Every
/// problem is reported with its line, and a file with any is refused whole.
pub fn read_file(path: &Path) -> Result<Vec<Entry>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let rows = if text.trim_start().starts_with('[') { json_rows(&text)? } else { csv_rows(&text)? };
    let mut entries = Vec::with_capacity(rows.len());
    let mut problems = Vec::new();
    for (line, kind, code, name) in rows {
        let checked = parse_kind(&kind)
            .map_err(|e| e.to_string())
            .and_then(|kind| NewOrganization::parse(kind, &name, &code).map_err(|e| e.to_string()));
        match checked {
            Ok(organization) => {
                if let Some(earlier) = entries.iter().find(|e: &&Entry| {
                    e.organization.kind == organization.kind && e.organization.code == organization.code
                }) {
                    problems.push(format!(
                        "line {line}: {} {} is already on line {}",
                        organization.kind,
                        organization.code.as_str(),
                        earlier.line
                    ));
                } else {
                    entries.push(Entry { line, organization });
                }
            }
            Err(e) => problems.push(format!("line {line}: {e}")),
        }
    }
    if problems.is_empty() {
        Ok(entries)
    } else {
        Err(format!(
            "{} has {} problem(s); nothing was imported:\n  {}",
            path.display(),
            problems.len(),
            problems.join("\n  ")
        ))
    }
}

type Row = (usize, String, String, String);

fn json_rows(text: &str) -> Result<Vec<Row>, String> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Item {
        kind: String,
        code: String,
        name: String,
    }
    let items: Vec<Item> =
        serde_json::from_str(text).map_err(|e| format!("not a JSON array of {{kind, code, name}}: {e}"))?;
    // The n-th object stands for line n: JSON has no rows to point at.
    Ok(items.into_iter().enumerate().map(|(i, it)| (i + 1, it.kind, it.code, it.name)).collect())
}

fn csv_rows(text: &str) -> Result<Vec<Row>, String> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else { return Ok(Vec::new()) };
    let columns: Vec<String> = csv_fields(header).map_err(|e| format!("line 1: {e}"))?;
    let position = |name: &str| {
        columns
            .iter()
            .position(|c| c.trim().eq_ignore_ascii_case(name))
            .ok_or_else(|| format!("line 1: the header has no `{name}` column (it needs kind, code and name)"))
    };
    let (kind, code, name) = (position("kind")?, position("code")?, position("name")?);
    let mut rows = Vec::new();
    for (i, line) in lines {
        let fields = csv_fields(line).map_err(|e| format!("line {}: {e}", i + 1))?;
        let field = |n: usize| fields.get(n).map(|f| f.trim().to_owned()).unwrap_or_default();
        rows.push((i + 1, field(kind), field(code), field(name)));
    }
    Ok(rows)
}

/// The fields of one CSV line: separated by commas, optionally in double quotes, with
/// `""` for a quote inside quotes.
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("a quoted field is not closed".into()),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => {}
                Some(_) => return Err("text after a closing quote".into()),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some(c) => field.push(c),
                }
            }
        }
        fields.push(field);
    }
}

fn parse_kind(kind: &str) -> Result<OrganizationKind, String> {
    kind.trim().to_ascii_uppercase().parse::<OrganizationKind>().map_err(|_| {
        let all: Vec<&str> = OrganizationKind::ALL.iter().map(|k| k.as_str()).collect();
        format!("`{kind}` is not a kind of organisation ({})", all.join(", "))
    })
}

/// The organisation an operator named: by id (`org_…`) or `KIND:CODE`.
async fn find(store: &Store, name: &str) -> Result<Organization, Box<dyn std::error::Error>> {
    if let Ok(id) = name.parse::<OrganizationId>() {
        return Ok(store.organization(id).await?);
    }
    let (kind, code) = name.split_once(':').ok_or("name the organisation by its id (org_…) or as KIND:CODE")?;
    store
        .organization_by_code(parse_kind(kind)?, code)
        .await?
        .ok_or_else(|| format!("no {kind} with code {code} is registered").into())
}

async fn list(store: &Store, kind: Option<OrganizationKind>) -> Result<String, Box<dyn std::error::Error>> {
    let mut out = String::new();
    let mut request = PageRequest::first(100);
    loop {
        let page = store.organizations(kind, request).await?;
        for org in &page.items {
            let status = if org.disabled_at.is_some() { "disabled" } else { "enabled" };
            let _ = writeln!(out, "{}\t{}\t{}\t{}\t{}", org.id, org.kind, org.code, status, org.name);
        }
        match (page.has_next, page.items.last()) {
            (true, Some(last)) => request = PageRequest { after: Some(last.id.as_uuid()), ..PageRequest::first(100) },
            _ => break,
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_follow_quotes_and_doubled_quotes() {
        assert_eq!(csv_fields("a,b,c").unwrap(), ["a", "b", "c"]);
        assert_eq!(csv_fields(r#""Family Services, North",x"#).unwrap(), ["Family Services, North", "x"]);
        assert_eq!(csv_fields(r#""the ""new"" one""#).unwrap(), [r#"the "new" one"#]);
        assert_eq!(csv_fields("a,,").unwrap(), ["a", "", ""]);
        assert!(csv_fields(r#""open"#).is_err());
        assert!(csv_fields(r#""a"b"#).is_err());
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().expect("a temporary file");
        std::io::Write::write_all(&mut f, text.as_bytes()).expect("written");
        f
    }

    #[test]
    fn a_csv_file_is_read_in_any_column_order_and_kinds_in_any_case() {
        let f = file("name,kind,code\n\"Aarhus Kommune\",municipality,0751\nSolhaven,PLACEMENT_PROVIDER,P-1\n\n");
        let entries = read_file(f.path()).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].line, 2);
        assert_eq!(entries[0].organization.kind, OrganizationKind::Municipality);
        assert_eq!(entries[0].organization.name.as_str(), "Aarhus Kommune");
        assert_eq!(entries[1].organization.code.as_str(), "P-1");
    }

    #[test]
    fn a_json_file_is_read() {
        let f = file(r#"[{"kind": "MENTAL_HEALTH_AUTHORITY", "code": "MHA-1", "name": "North Authority"}]"#);
        let entries = read_file(f.path()).unwrap();
        assert_eq!(entries[0].organization.kind, OrganizationKind::MentalHealthAuthority);
    }

    #[test]
    fn every_problem_of_a_file_is_reported_with_its_line_and_nothing_is_taken() {
        let f = file("kind,code,name\nTOWN,1,A\nMUNICIPALITY,,B\nMUNICIPALITY,7,C\nMUNICIPALITY,7,D\n");
        let err = read_file(f.path()).unwrap_err();
        assert!(err.contains("3 problem(s)"), "{err}");
        assert!(err.contains("line 2: `TOWN` is not a kind"), "{err}");
        assert!(err.contains("line 3: code"), "{err}");
        assert!(err.contains("line 5: MUNICIPALITY 7 is already on line 4"), "{err}");
        let f = file("kind,name\nMUNICIPALITY,A\n");
        assert!(read_file(f.path()).unwrap_err().contains("no `code` column"));
        let f = file(r#"[{"kind": "MUNICIPALITY", "code": "1"}]"#);
        assert!(read_file(f.path()).unwrap_err().contains("not a JSON array"));
    }
}
