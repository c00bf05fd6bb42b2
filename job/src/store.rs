//! URLs to object stores: `file://` (and plain paths), `memory://`, `s3://`, `gs://`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use object_store::path::Path;
use object_store::ObjectStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid URL `{url}`: {message}")]
    Url { url: String, message: String },
    #[error("unsupported scheme `{scheme}` in `{url}` (use file://, memory://, s3:// or gs://)")]
    Scheme { url: String, scheme: String },
    #[error(
        "no credentials for `{url}`: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or \
         AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN (IRSA), or AWS_CONTAINER_CREDENTIALS_* \
         (ECS, EKS Pod Identity); AWS_SKIP_SIGNATURE=true for a public bucket; or, on EC2 with \
         an instance role, ARCHETYPE_S3_INSTANCE_METADATA=1 to ask the instance metadata endpoint"
    )]
    NoS3Credentials { url: String },
    #[error("cannot open the store of `{url}`: {source}")]
    Open {
        url: String,
        #[source]
        source: object_store::Error,
    },
}

/// A store and a path in it, with the URL it came from for messages.
#[derive(Clone, Debug)]
pub struct StoreUrl {
    pub store: Arc<dyn ObjectStore>,
    pub path: Path,
    /// Canonical URL (`file:///abs/path` for local paths).
    pub url: String,
}

impl StoreUrl {
    /// The URL of `child` below this one.
    pub fn join(&self, child: &str) -> StoreUrl {
        let mut path = self.path.clone();
        for part in child.split('/').filter(|p| !p.is_empty()) {
            path = path.clone().join(part);
        }
        let url = format!(
            "{}/{}",
            self.url.trim_end_matches('/'),
            child.trim_start_matches('/')
        );
        StoreUrl {
            store: self.store.clone(),
            path,
            url,
        }
    }
}

/// `memory://NAME/...` stores live as long as the process: every `open_url` of the same NAME
/// sees the same objects, which lets in-process tests and demos share data without disk.
fn memory_stores() -> &'static Mutex<HashMap<String, Arc<object_store::memory::InMemory>>> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<object_store::memory::InMemory>>>> =
        OnceLock::new();
    STORES.get_or_init(Default::default)
}

/// Resolves a URL or a local path (relative paths are taken from the current directory).
/// Credentials for `s3://` and `gs://` come from the usual environment variables
/// (`AWS_ACCESS_KEY_ID`, `AWS_REGION`, `AWS_ENDPOINT`, `GOOGLE_SERVICE_ACCOUNT`, ...).
pub fn open_url(raw: &str) -> Result<StoreUrl, StoreError> {
    let url_err = |message: String| StoreError::Url {
        url: raw.to_string(),
        message,
    };
    if !raw.contains("://") {
        let p = std::path::Path::new(raw);
        let abs = if p.is_absolute() {
            p.to_path_buf()
        } else {
            std::env::current_dir()
                .map_err(|e| url_err(format!("no current directory: {e}")))?
                .join(p)
        };
        let url = url::Url::from_file_path(&abs)
            .map_err(|_| url_err("not an absolute path".to_string()))?;
        return open_url(url.as_str());
    }
    let url = url::Url::parse(raw).map_err(|e| url_err(e.to_string()))?;
    let open_err = |source| StoreError::Open {
        url: raw.to_string(),
        source,
    };
    match url.scheme() {
        "file" => {
            let fs_path = url
                .to_file_path()
                .map_err(|_| url_err("not a local file path".to_string()))?;
            let path = Path::from_absolute_path(&fs_path).map_err(|e| url_err(e.to_string()))?;
            Ok(StoreUrl {
                // Every object is staged beside its destination and renamed into place, so a
                // reader sees all of it or nothing; fsync makes that hold across a power loss
                // too (the data before the rename, the directory after it).
                store: Arc::new(object_store::local::LocalFileSystem::new().with_fsync(true)),
                path,
                url: url.to_string(),
            })
        }
        "memory" => {
            let name = url.host_str().unwrap_or("").to_string();
            let store = memory_stores()
                .lock()
                .map_err(|_| url_err("memory store registry poisoned".to_string()))?
                .entry(name)
                .or_insert_with(|| Arc::new(object_store::memory::InMemory::new()))
                .clone();
            Ok(StoreUrl {
                store,
                path: url_path(&url, raw)?,
                url: url.to_string(),
            })
        }
        "s3" => {
            // Without this the builder falls back to the instance metadata endpoint, which
            // off EC2 means a wait and an error that never says credentials are missing.
            if !s3_credentials_configured(|k| std::env::var(k).ok()) {
                return Err(StoreError::NoS3Credentials {
                    url: raw.to_string(),
                });
            }
            let store = object_store::aws::AmazonS3Builder::from_env()
                .with_url(raw)
                .build()
                .map_err(open_err)?;
            Ok(StoreUrl {
                store: Arc::new(store),
                path: url_path(&url, raw)?,
                url: url.to_string(),
            })
        }
        "gs" => {
            let store = object_store::gcp::GoogleCloudStorageBuilder::from_env()
                .with_url(raw)
                .build()
                .map_err(open_err)?;
            Ok(StoreUrl {
                store: Arc::new(store),
                path: url_path(&url, raw)?,
                url: url.to_string(),
            })
        }
        other => Err(StoreError::Scheme {
            url: raw.to_string(),
            scheme: other.to_string(),
        }),
    }
}

/// Whether the environment (read through `var`) names a source of S3 credentials other than
/// an unrequested instance metadata endpoint.
fn s3_credentials_configured(var: impl Fn(&str) -> Option<String>) -> bool {
    let set = |k: &str| var(k).is_some_and(|v| !v.trim().is_empty());
    let yes = |k: &str| {
        var(k).is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true"))
    };
    (set("AWS_ACCESS_KEY_ID") && set("AWS_SECRET_ACCESS_KEY"))
        || set("AWS_WEB_IDENTITY_TOKEN_FILE")
        || set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        || set("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        || yes("AWS_SKIP_SIGNATURE")
        || yes("ARCHETYPE_S3_INSTANCE_METADATA")
}

fn url_path(url: &url::Url, raw: &str) -> Result<Path, StoreError> {
    Path::from_url_path(url.path()).map_err(|e| StoreError::Url {
        url: raw.to_string(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::{ObjectStoreExt, PutPayload};

    #[test]
    fn s3_without_any_credentials_source_is_refused_naming_the_options() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert!(!s3_credentials_configured(env(&[])));
        assert!(!s3_credentials_configured(env(&[(
            "AWS_ACCESS_KEY_ID",
            "AKIA"
        )])));
        assert!(!s3_credentials_configured(env(&[(
            "AWS_SKIP_SIGNATURE",
            "false"
        )])));
        for ok in [
            &[
                ("AWS_ACCESS_KEY_ID", "AKIA"),
                ("AWS_SECRET_ACCESS_KEY", "x"),
            ][..],
            &[("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token")],
            &[(
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "http://169.254.170.23/v1",
            )],
            &[("AWS_SKIP_SIGNATURE", "true")],
            &[("ARCHETYPE_S3_INSTANCE_METADATA", "1")],
        ] {
            assert!(s3_credentials_configured(env(ok)), "{ok:?}");
        }
        let e = StoreError::NoS3Credentials {
            url: "s3://b/x".into(),
        };
        let text = e.to_string();
        assert!(text.contains("no credentials for `s3://b/x`"), "{text}");
        assert!(text.contains("AWS_ACCESS_KEY_ID"), "{text}");
    }

    /// When this process's environment has no S3 credentials, opening an `s3://` URL fails at
    /// once, naming them, and asks no endpoint (it returns before any client is built).
    #[test]
    fn opening_s3_without_credentials_fails_at_once() {
        if s3_credentials_configured(|k| std::env::var(k).ok()) {
            return; // a developer's shell with credentials: nothing to show here
        }
        let e = open_url("s3://archetype-test-bucket/x").err();
        assert!(
            matches!(e, Some(StoreError::NoS3Credentials { .. })),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn memory_urls_share_one_store_per_name() {
        let a = open_url("memory://shared-test/dir/a.txt").unwrap();
        a.store
            .put(&a.path, PutPayload::from_static(b"hello"))
            .await
            .unwrap();
        let b = open_url("memory://shared-test/dir/a.txt").unwrap();
        let got = b.store.get(&b.path).await.unwrap().bytes().await.unwrap();
        assert_eq!(&got[..], b"hello");
        let other = open_url("memory://other-test/dir/a.txt").unwrap();
        assert!(other.store.get(&other.path).await.is_err());
    }

    #[tokio::test]
    async fn local_paths_and_file_urls_agree() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.txt");
        std::fs::write(&file, b"data").unwrap();
        let by_path = open_url(file.to_str().unwrap()).unwrap();
        assert!(by_path.url.starts_with("file:///"));
        let by_url = open_url(&by_path.url).unwrap();
        assert_eq!(by_path.path, by_url.path);
        let got = by_url
            .store
            .get(&by_url.path)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(&got[..], b"data");
        let joined = open_url(dir.path().to_str().unwrap())
            .unwrap()
            .join("x.txt");
        assert_eq!(joined.path, by_path.path);
    }

    /// What a crash in the middle of writing an output leaves behind: the staged bytes, never
    /// a partial object where a later phase would look, and the previous version intact.
    #[tokio::test]
    async fn a_write_cut_short_leaves_the_previous_object_whole_and_lists_nothing_new() {
        use futures::TryStreamExt;
        let dir = tempfile::tempdir().unwrap();
        let root = open_url(dir.path().to_str().unwrap()).unwrap();
        let part = root.join("aggregate/interactions/part-00000.parquet");
        part.store
            .put(&part.path, PutPayload::from_static(b"old, complete"))
            .await
            .unwrap();
        let fresh = root.join("aggregate/interactions/part-00001.parquet");
        for target in [&part, &fresh] {
            let mut upload = target.store.put_multipart(&target.path).await.unwrap();
            upload
                .put_part(PutPayload::from(vec![7u8; 1 << 20]))
                .await
                .unwrap();
            // The process dies here: no complete, no abort, no destructor.
            std::mem::forget(upload);
        }
        let got = part
            .store
            .get(&part.path)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(&got[..], b"old, complete");
        assert!(fresh.store.get(&fresh.path).await.is_err());
        let listed: Vec<_> = root
            .store
            .list(Some(&root.path))
            .try_collect()
            .await
            .unwrap();
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert!(listed[0].location.as_ref().ends_with("part-00000.parquet"));
        // The staged bytes are on disk, under a name no reader asks for.
        let on_disk = std::fs::read_dir(dir.path().join("aggregate/interactions"))
            .unwrap()
            .count();
        assert!(on_disk >= 2);
    }

    #[test]
    fn unknown_schemes_are_named() {
        let e = open_url("ftp://host/x").unwrap_err();
        assert!(e.to_string().contains("ftp"), "{e}");
    }
}
