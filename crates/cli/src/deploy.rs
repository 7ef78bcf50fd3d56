//! `nimbus deploy`: a SAM or CloudFormation template from its folder to a
//! running stack, as `sam build` + `sam deploy` do it. Each local code
//! folder (`CodeUri`, `ContentUri`, `DefinitionUri`, a plain function's
//! `Code`) is built (Python `requirements.txt` installed with pip, Node
//! `package.json` with npm), zipped and uploaded to an artifacts bucket;
//! the template, pointing at the uploads, goes to CloudFormation's
//! `CreateStack`; the stack's events are shown as they happen, and its
//! outputs at the end. A failure exits non-zero with the resource and reason.

use crate::client::{self, Conn, Endpoint, Keep};
use anyhow::{Context, Result, bail};
use bytes::Bytes;
use nimbus_api_common::sigv4::uri_encode;
use nimbus_api_common::xml;
use serde_json::Value;
use std::collections::HashSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(clap::Args)]
pub struct Args {
    /// The template (YAML or JSON); code paths in it are relative to its folder.
    #[arg(short = 't', long = "template-file", default_value = "template.yaml")]
    template: PathBuf,
    /// The stack to create, or to update when it exists.
    #[arg(long)]
    stack_name: String,
    /// Parameter values, `Key=Value` each.
    #[arg(long, num_args = 1..)]
    parameter_overrides: Vec<String>,
    /// The bucket packages are uploaded to (made if missing).
    #[arg(long, default_value = "nimbus-deploy-artifacts")]
    s3_bucket: String,
    /// The server's data directory (its `credentials` and `config`).
    #[arg(long, default_value = ".nimbus")]
    data_dir: PathBuf,
    /// The endpoint, instead of the one in the data directory's `config`.
    #[arg(long)]
    endpoint: Option<String>,
    /// Deploy the change set without asking (the question is asked only
    /// when standard input is a terminal).
    #[arg(long)]
    no_confirm: bool,
}

/// Form-encode a query-protocol request.
fn form(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", uri_encode(v.as_bytes(), true)))
        .collect::<Vec<_>>()
        .join("&")
}

/// One CloudFormation query call: the answer's document, or its error.
async fn call(c: &mut Conn, action: &str, params: &[(String, String)]) -> Result<xml::Element> {
    let mut pairs = vec![
        ("Action".to_string(), action.to_string()),
        ("Version".to_string(), "2010-05-15".to_string()),
    ];
    pairs.extend_from_slice(params);
    let r = c
        .send(
            "POST",
            "/",
            &[(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )],
            Bytes::from(form(&pairs)),
            None,
            Keep::Body,
        )
        .await?;
    let doc =
        xml::parse(&r.body).map_err(|e| anyhow::anyhow!("{action}: unreadable answer: {e}"))?;
    if !r.status.is_success() {
        let message = doc
            .child("Error")
            .and_then(|e| e.child_text("Message"))
            .unwrap_or("")
            .to_string();
        bail!("{action}: {message}");
    }
    Ok(doc)
}

/// A zip of `dir`'s files (paths relative to it), in a stable order.
fn zip_dir(dir: &Path) -> Result<Vec<u8>> {
    use std::io::Write;
    use zip::write::SimpleFileOptions;
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("read {}", d.display()))? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for f in files {
        let name = f.strip_prefix(dir)?.to_string_lossy().replace('\\', "/");
        #[cfg(unix)]
        let mode = {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(&f)?.permissions().mode()
        };
        #[cfg(not(unix))]
        let mode = 0o644;
        w.start_file(name, SimpleFileOptions::default().unix_permissions(mode))?;
        w.write_all(&std::fs::read(&f)?)?;
    }
    Ok(w.finish()?.into_inner())
}

/// Copy `from`'s tree into `to`.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let p = e?.path();
        let dest = to.join(p.file_name().context("a file name")?);
        if p.is_dir() {
            copy_tree(&p, &dest)?;
        } else {
            std::fs::copy(&p, &dest)?;
        }
    }
    Ok(())
}

fn run(cmd: &mut std::process::Command, what: &str) -> Result<()> {
    let out = cmd.output().with_context(|| format!("run {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// How a code folder is built.
struct Recipe<'a> {
    runtime: Option<&'a str>,
    /// `Metadata.BuildMethod: makefile`: the logical id whose `build-ID`
    /// target makes the package.
    makefile: Option<&'a str>,
}

/// The Python of a runtime (`python3.12` for `python3.12`) when this host
/// has it, else `python3`, as `sam build` looks for the runtime's own.
fn python_for(runtime: &str) -> String {
    let exact = std::process::Command::new(runtime)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if exact {
        runtime.to_string()
    } else {
        eprintln!("{runtime} is not on PATH: installing its requirements with python3");
        "python3".to_string()
    }
}

/// The package of a code folder: its files, with Python `requirements.txt`
/// (by the runtime's pip) or Node `package.json` dependencies installed, or
/// what its Makefile's `build-ID` target puts in `ARTIFACTS_DIR` (as `sam
/// build` does); a `.zip` file as it is.
fn build(path: &Path, recipe: &Recipe<'_>) -> Result<Vec<u8>> {
    if path.is_file() {
        return std::fs::read(path).with_context(|| format!("read {}", path.display()));
    }
    let work = std::env::temp_dir().join(format!("nimbus-build-{}", uuid::Uuid::new_v4()));
    copy_tree(path, &work)?;
    let artifacts = work.with_extension("artifacts");
    let runtime = recipe.runtime.unwrap_or("");
    let result = (|| {
        if let Some(id) = recipe.makefile {
            eprintln!("Building {}: make build-{id}", path.display());
            std::fs::create_dir_all(&artifacts)?;
            run(
                std::process::Command::new("make")
                    .arg(format!("build-{id}"))
                    .env("ARTIFACTS_DIR", &artifacts)
                    .current_dir(&work),
                "make",
            )?;
            return zip_dir(&artifacts);
        }
        if runtime.starts_with("python") && work.join("requirements.txt").is_file() {
            let python = python_for(runtime);
            eprintln!(
                "Building {}: {python} -m pip install -r requirements.txt",
                path.display()
            );
            run(
                std::process::Command::new(&python)
                    .args([
                        "-m",
                        "pip",
                        "install",
                        "--quiet",
                        "--disable-pip-version-check",
                    ])
                    .args(["-r", "requirements.txt", "-t", "."])
                    .current_dir(&work),
                "pip install",
            )?;
        }
        if runtime.starts_with("nodejs") && work.join("package.json").is_file() {
            eprintln!("Building {}: npm install --omit=dev", path.display());
            run(
                std::process::Command::new("npm")
                    .args(["install", "--omit=dev", "--no-audit", "--no-fund"])
                    .current_dir(&work),
                "npm install",
            )?;
        }
        zip_dir(&work)
    })();
    let _ = std::fs::remove_dir_all(&work);
    let _ = std::fs::remove_dir_all(&artifacts);
    result
}

/// Uploads packages to the artifacts bucket, each under its content's hash.
struct Uploader {
    s3: Conn,
    bucket: String,
    prefix: String,
    made: HashSet<String>,
}

impl Uploader {
    async fn upload(&mut self, zip: Vec<u8>) -> Result<String> {
        use sha2::{Digest, Sha256};
        let hash = hex::encode(Sha256::digest(&zip));
        let key = format!("{}/{hash}", self.prefix);
        if self.made.insert(key.clone()) {
            let r = self
                .s3
                .send(
                    "PUT",
                    &format!("/{}/{key}", self.bucket),
                    &[],
                    Bytes::from(zip),
                    Some(&hash),
                    Keep::Body,
                )
                .await?;
            if !r.status.is_success() {
                bail!(
                    "upload to s3://{}/{key}: {} {}",
                    self.bucket,
                    r.status,
                    String::from_utf8_lossy(&r.body)
                );
            }
        }
        Ok(format!("s3://{}/{key}", self.bucket))
    }

    async fn ensure_bucket(&mut self) -> Result<()> {
        let r = self
            .s3
            .send(
                "PUT",
                &format!("/{}", self.bucket),
                &[],
                Bytes::new(),
                Some("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
                Keep::Body,
            )
            .await?;
        let body = String::from_utf8_lossy(&r.body);
        if !r.status.is_success() && !body.contains("BucketAlreadyOwnedByYou") {
            bail!("create bucket {}: {} {body}", self.bucket, r.status);
        }
        Ok(())
    }
}

/// The local path a code property names, if it names one (not an S3 URI, a
/// map or an intrinsic).
fn local(v: Option<&Value>, base: &Path) -> Option<PathBuf> {
    match v {
        Some(Value::String(s)) if !s.starts_with("s3://") => Some(base.join(s)),
        _ => None,
    }
}

/// Build and upload every local code path of `doc`, rewriting it to the
/// upload's S3 location, as `sam deploy` (and `aws cloudformation package`) do.
async fn package(doc: &mut Value, base: &Path, up: &mut Uploader) -> Result<()> {
    let global = doc
        .pointer("/Globals/Function")
        .cloned()
        .unwrap_or(Value::Null);
    let Some(Value::Object(resources)) = doc.get_mut("Resources") else {
        bail!("the template has no Resources");
    };
    for (id, r) in resources.iter_mut() {
        let kind = r["Type"].as_str().unwrap_or("").to_string();
        let makefile = r
            .pointer("/Metadata/BuildMethod")
            .and_then(Value::as_str)
            .is_some_and(|m| m.eq_ignore_ascii_case("makefile"))
            .then(|| id.clone());
        let props = &mut r["Properties"];
        match kind.as_str() {
            "AWS::Serverless::Function" => {
                if props.get("InlineCode").is_some() || props.get("ImageUri").is_some() {
                    continue;
                }
                let uri = props.get("CodeUri").or_else(|| global.get("CodeUri"));
                let runtime = props
                    .get("Runtime")
                    .or_else(|| global.get("Runtime"))
                    .and_then(Value::as_str)
                    .map(str::to_string);
                if let Some(path) = local(uri, base) {
                    let recipe = Recipe {
                        runtime: runtime.as_deref(),
                        makefile: makefile.as_deref(),
                    };
                    let zip = build(&path, &recipe)
                        .with_context(|| format!("build {id} from {}", path.display()))?;
                    props["CodeUri"] = Value::String(up.upload(zip).await?);
                }
            }
            "AWS::Serverless::LayerVersion" => {
                if let Some(path) = local(props.get("ContentUri"), base) {
                    let recipe = Recipe {
                        runtime: None,
                        makefile: makefile.as_deref(),
                    };
                    let zip = build(&path, &recipe)
                        .with_context(|| format!("build {id} from {}", path.display()))?;
                    props["ContentUri"] = Value::String(up.upload(zip).await?);
                }
            }
            "AWS::Serverless::StateMachine" => {
                if let Some(path) = local(props.get("DefinitionUri"), base) {
                    let body =
                        std::fs::read(&path).with_context(|| format!("read {}", path.display()))?;
                    props["DefinitionUri"] = Value::String(up.upload(body).await?);
                }
            }
            "AWS::Lambda::Function" => {
                if let Some(path) = local(props.get("Code"), base) {
                    let runtime = props
                        .get("Runtime")
                        .and_then(Value::as_str)
                        .map(str::to_string);
                    let recipe = Recipe {
                        runtime: runtime.as_deref(),
                        makefile: makefile.as_deref(),
                    };
                    let uri = up.upload(build(&path, &recipe)?).await?;
                    let (bucket, key) = uri
                        .trim_start_matches("s3://")
                        .split_once('/')
                        .context("an S3 URI")?;
                    props["Code"] = serde_json::json!({"S3Bucket": bucket, "S3Key": key});
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// A stack's status and the reason given for it.
async fn status(cf: &mut Conn, stack: &str) -> Result<(String, xml::Element)> {
    let doc = call(cf, "DescribeStacks", &[("StackName".into(), stack.into())]).await?;
    let s = doc
        .child("DescribeStacksResult")
        .and_then(|r| r.child("Stacks"))
        .and_then(|s| s.child("member"))
        .cloned()
        .context("DescribeStacks named no stack")?;
    Ok((s.child_text("StackStatus").unwrap_or("").to_string(), s))
}

/// Print the stack's events not shown yet, oldest first (or with `print`
/// false, only note them as seen); the failed resources' reasons, newest
/// first, but for the events in `before`.
async fn show_events(
    cf: &mut Conn,
    stack: &str,
    seen: &mut HashSet<String>,
    print: bool,
    before: &HashSet<String>,
) -> Result<Vec<String>> {
    let doc = call(
        cf,
        "DescribeStackEvents",
        &[("StackName".into(), stack.into())],
    )
    .await?;
    let events: Vec<xml::Element> = doc
        .child("DescribeStackEventsResult")
        .and_then(|r| r.child("StackEvents"))
        .map(|e| e.children_named("member").cloned().collect())
        .unwrap_or_default();
    let mut failures = Vec::new();
    for e in events.iter().rev() {
        let id = e.child_text("EventId").unwrap_or("").to_string();
        let status = e.child_text("ResourceStatus").unwrap_or("");
        let reason = e.child_text("ResourceStatusReason").unwrap_or("");
        let logical = e.child_text("LogicalResourceId").unwrap_or("");
        if status.ends_with("_FAILED") && !reason.is_empty() && !before.contains(&id) {
            failures.push(format!("{logical}: {reason}"));
        }
        if seen.insert(id) && print {
            println!(
                "{:<28} {:<36} {:<28} {}",
                status,
                e.child_text("ResourceType").unwrap_or(""),
                logical,
                reason
            );
        }
    }
    failures.reverse();
    Ok(failures)
}

pub fn main(args: Args) -> Result<()> {
    let text = std::fs::read_to_string(&args.template)
        .with_context(|| format!("read {}", args.template.display()))?;
    let mut doc = nimbus_templates::read(&text).map_err(|e| anyhow::anyhow!("{e}"))?;
    let base = args
        .template
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let ep: Arc<Endpoint> = Arc::new(client::nimbus_at(&args.data_dir, args.endpoint.as_deref())?);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let mut up = Uploader {
            s3: Conn::connect(ep.clone(), "s3").await?,
            bucket: args.s3_bucket.clone(),
            prefix: args.stack_name.clone(),
            made: HashSet::new(),
        };
        up.ensure_bucket().await?;
        package(&mut doc, &base, &mut up).await?;
        let mut cf = Conn::connect(ep, "cloudformation").await?;
        let mut params = vec![
            ("StackName".to_string(), args.stack_name.clone()),
            ("TemplateBody".to_string(), doc.to_string()),
        ];
        for (i, cap) in [
            "CAPABILITY_IAM",
            "CAPABILITY_NAMED_IAM",
            "CAPABILITY_AUTO_EXPAND",
        ]
        .iter()
        .enumerate()
        {
            params.push((format!("Capabilities.member.{}", i + 1), cap.to_string()));
        }
        for (i, kv) in args.parameter_overrides.iter().enumerate() {
            let (k, v) = kv
                .split_once('=')
                .with_context(|| format!("parameter override {kv:?} is not Key=Value"))?;
            params.push((
                format!("Parameters.member.{}.ParameterKey", i + 1),
                k.to_string(),
            ));
            params.push((
                format!("Parameters.member.{}.ParameterValue", i + 1),
                v.to_string(),
            ));
        }
        let existing = status(&mut cf, &args.stack_name).await.ok();
        let updating = existing
            .as_ref()
            .is_some_and(|(state, _)| state != "REVIEW_IN_PROGRESS");
        let change_set = format!("nimbus-deploy-{}", std::process::id());
        params.push(("ChangeSetName".into(), change_set.clone()));
        params.push((
            "ChangeSetType".into(),
            if updating { "UPDATE" } else { "CREATE" }.into(),
        ));
        call(&mut cf, "CreateChangeSet", &params).await?;
        let named = [
            ("StackName".to_string(), args.stack_name.clone()),
            ("ChangeSetName".to_string(), change_set),
        ];
        let described = call(&mut cf, "DescribeChangeSet", &named).await?;
        let described = described
            .child("DescribeChangeSetResult")
            .cloned()
            .unwrap_or_default();
        if described.child_text("Status") == Some("FAILED") {
            let why = described.child_text("StatusReason").unwrap_or("");
            if !why.contains("didn't contain changes") {
                bail!("the change set failed: {why}");
            }
            call(&mut cf, "DeleteChangeSet", &named).await?;
            println!(
                "No changes to deploy. Stack {} is up to date.",
                args.stack_name
            );
            let (_, stack) = status(&mut cf, &args.stack_name).await?;
            print_outputs(&stack);
            return Ok(());
        }
        show_changes(&described);
        if !args.no_confirm && std::io::stdin().is_terminal() && !confirmed()? {
            call(&mut cf, "DeleteChangeSet", &named).await?;
            println!("Not deployed.");
            return Ok(());
        }
        // Only what this deployment does is shown.
        let mut seen = HashSet::new();
        if updating {
            let none = HashSet::new();
            show_events(&mut cf, &args.stack_name, &mut seen, false, &none).await?;
        }
        let before = seen.clone();
        call(&mut cf, "ExecuteChangeSet", &named).await?;
        println!("Deploying stack {}", args.stack_name);
        let done = if updating {
            "UPDATE_COMPLETE"
        } else {
            "CREATE_COMPLETE"
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1800);
        loop {
            let failures = show_events(&mut cf, &args.stack_name, &mut seen, true, &before).await?;
            let (state, stack) = status(&mut cf, &args.stack_name).await?;
            if !state.ends_with("_IN_PROGRESS") {
                if state != done {
                    let why = failures
                        .first()
                        .cloned()
                        .or_else(|| stack.child_text("StackStatusReason").map(str::to_string))
                        .unwrap_or_default();
                    bail!("stack {} is {state}: {why}", args.stack_name);
                }
                println!("\nStack {} is {state}.", args.stack_name);
                print_outputs(&stack);
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                bail!("stack {} still {state} after 30 minutes", args.stack_name);
            }
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
    })
}

fn print_outputs(stack: &xml::Element) {
    if let Some(outputs) = stack.child("Outputs") {
        for o in outputs.children_named("member") {
            println!(
                "  {} = {}",
                o.child_text("OutputKey").unwrap_or(""),
                o.child_text("OutputValue").unwrap_or("")
            );
        }
    }
}

/// The change set's changes, as `sam deploy` shows them.
fn show_changes(described: &xml::Element) {
    println!("\nCloudFormation stack changeset");
    println!(
        "{:<10} {:<36} {:<36} Replacement",
        "Operation", "LogicalResourceId", "ResourceType"
    );
    for c in described
        .child("Changes")
        .map(|c| c.children_named("member").cloned().collect::<Vec<_>>())
        .unwrap_or_default()
    {
        let Some(r) = c.child("ResourceChange") else {
            continue;
        };
        let op = match r.child_text("Action").unwrap_or("") {
            "Add" => "+ Add",
            "Modify" => "* Modify",
            "Remove" => "- Delete",
            other => other,
        };
        println!(
            "{:<10} {:<36} {:<36} {}",
            op,
            r.child_text("LogicalResourceId").unwrap_or(""),
            r.child_text("ResourceType").unwrap_or(""),
            r.child_text("Replacement").unwrap_or("N/A")
        );
    }
    println!();
}

/// Ask whether to deploy; yes only for `y` or `yes`.
fn confirmed() -> Result<bool> {
    use std::io::Write;
    print!("Deploy this changeset? [y/N]: ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_zip_with_relative_paths() {
        let d = std::env::temp_dir().join(format!("nimbus-zip-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(d.join("pkg")).unwrap();
        std::fs::write(d.join("app.py"), "x").unwrap();
        std::fs::write(d.join("pkg/m.py"), "y").unwrap();
        let zip = zip_dir(&d).unwrap();
        let mut a = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
        let names: Vec<String> = (0..a.len())
            .map(|i| a.by_index(i).unwrap().name().to_string())
            .collect();
        assert_eq!(names, ["app.py", "pkg/m.py"]);
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn only_local_paths_are_packaged() {
        let base = Path::new("/t");
        assert_eq!(
            local(Some(&Value::from("src")), base),
            Some(PathBuf::from("/t/src"))
        );
        assert_eq!(local(Some(&Value::from("s3://b/k")), base), None);
        assert_eq!(local(Some(&serde_json::json!({"Bucket": "b"})), base), None);
        assert_eq!(local(None, base), None);
    }
}
