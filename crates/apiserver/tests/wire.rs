//! Wire-compatibility pieces of the embedded API server: TLS material and kubeconfig, bearer
//! token authentication, discovery, OpenAPI v3 and Table output.

use std::io::{Read, Write};
use std::sync::Arc;

use everynode_apiserver::registry::{self, RESOURCES};
use everynode_apiserver::table::{self, IncludeObject};
use everynode_apiserver::{auth, discovery, openapi, tls};
use everynode_model::Timestamp;
use k8s_openapi::jiff::SignedDuration;
use serde_json::{Value, json};

// ---- TLS, token, kubeconfig ---------------------------------------------------------------

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn credentials_are_created_once_and_reused_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data"); // does not exist yet: must be created
    let first = tls::load_or_create(&data, &[]).unwrap();
    let second = tls::load_or_create(&data, &[]).unwrap();
    assert_eq!(first.ca_pem, second.ca_pem, "same CA on second start");
    assert_eq!(first.ca_der, second.ca_der);
    assert_eq!(
        first.cert_pem, second.cert_pem,
        "serving cert reused when it still covers the names"
    );
    assert_eq!(first.key_pem, second.key_pem);
    assert_eq!(first.token, second.token);
    for file in [
        "pki/ca.crt",
        "pki/ca.key",
        "pki/server.crt",
        "pki/server.key",
        "token",
    ] {
        assert!(data.join(file).is_file(), "{file} written");
    }
    assert!(first.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(first.key_pem.contains("PRIVATE KEY"));
}

#[test]
fn token_is_32_random_bytes_base64url() {
    use base64::Engine;
    let a = tls::load_or_create(tempfile::tempdir().unwrap().path(), &[]).unwrap();
    let b = tls::load_or_create(tempfile::tempdir().unwrap().path(), &[]).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&a.token)
        .unwrap();
    assert_eq!(bytes.len(), 32);
    assert_ne!(
        a.token, b.token,
        "independent data dirs get independent tokens"
    );
    assert_ne!(a.ca_pem, b.ca_pem, "and independent CAs");
}

#[cfg(unix)]
#[test]
fn secret_files_are_mode_0600() {
    let dir = tempfile::tempdir().unwrap();
    let creds = tls::load_or_create(dir.path(), &[]).unwrap();
    for file in ["pki/ca.key", "pki/server.key", "token"] {
        assert_eq!(mode(&dir.path().join(file)), 0o600, "{file}");
    }
    let kubeconfig = dir.path().join("kubeconfig");
    tls::write_kubeconfig(&kubeconfig, "https://127.0.0.1:6443", &creds).unwrap();
    assert_eq!(mode(&kubeconfig), 0o600);
}

#[cfg(unix)]
#[test]
fn kubeconfig_rewrite_tightens_an_existing_loose_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let creds = tls::load_or_create(dir.path(), &[]).unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, "old").unwrap();
    std::fs::set_permissions(&kubeconfig, std::fs::Permissions::from_mode(0o644)).unwrap();
    tls::write_kubeconfig(&kubeconfig, "https://127.0.0.1:6443", &creds).unwrap();
    assert_eq!(mode(&kubeconfig), 0o600);
    assert_ne!(std::fs::read_to_string(&kubeconfig).unwrap(), "old");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary files left behind: {leftovers:?}"
    );
}

#[tokio::test]
async fn kubeconfig_parses_with_kube_and_names_cluster_user_context() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let creds = tls::load_or_create(dir.path(), &[]).unwrap();
    let path = dir.path().join("sub/dir/kubeconfig"); // parent directories are created
    tls::write_kubeconfig(&path, "https://127.0.0.1:6443", &creds).unwrap();

    let kc = kube::config::Kubeconfig::read_from(&path).unwrap();
    assert_eq!(kc.current_context.as_deref(), Some("everynode"));
    assert_eq!(kc.clusters.len(), 1);
    assert_eq!(kc.clusters[0].name, "everynode");
    let cluster = kc.clusters[0].cluster.as_ref().unwrap();
    assert_eq!(cluster.server.as_deref(), Some("https://127.0.0.1:6443"));
    let ca = base64::engine::general_purpose::STANDARD
        .decode(cluster.certificate_authority_data.as_deref().unwrap())
        .unwrap();
    assert_eq!(String::from_utf8(ca).unwrap(), creds.ca_pem);
    assert_eq!(kc.auth_infos[0].name, "admin");
    assert_eq!(kc.contexts[0].name, "everynode");
    let ctx = kc.contexts[0].context.as_ref().unwrap();
    assert_eq!(
        (ctx.cluster.as_str(), ctx.user.as_deref()),
        ("everynode", Some("admin"))
    );

    // The token is a secret type in kube; read it back from the raw document instead.
    let raw: Value = serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(raw["users"][0]["user"]["token"], json!(creds.token));

    // kube can turn it into a client configuration (CA data decodes into a root cert).
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .unwrap();
    assert_eq!(config.cluster_url.to_string(), "https://127.0.0.1:6443/");
    assert_eq!(config.root_cert.as_ref().map(Vec::len), Some(1));
}

fn pem_cert(pem: &str) -> rustls::pki_types::CertificateDer<'static> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
}

#[test]
fn serving_cert_verifies_against_the_ca_for_exactly_its_names() {
    let dir = tempfile::tempdir().unwrap();
    let creds =
        tls::load_or_create(dir.path(), &["node1.example".into(), "10.1.2.3".into()]).unwrap();
    let ca = rustls::pki_types::CertificateDer::from(creds.ca_der.clone());
    let cert = pem_cert(&creds.cert_pem);
    let cases = [
        ("127.0.0.1", true),
        ("::1", true),
        ("localhost", true),
        ("node1.example", true),
        ("10.1.2.3", true),
        ("other.example", false),
        ("10.1.2.4", false),
    ];
    for (name, ok) in cases {
        assert_eq!(
            tls::verify_server_cert(&ca, &cert, name).is_ok(),
            ok,
            "{name}"
        );
    }
    // A different CA does not vouch for it.
    let other = tls::load_or_create(tempfile::tempdir().unwrap().path(), &[]).unwrap();
    let other_ca = rustls::pki_types::CertificateDer::from(other.ca_der);
    assert!(tls::verify_server_cert(&other_ca, &cert, "127.0.0.1").is_err());
}

#[test]
fn new_extra_san_reissues_serving_cert_from_the_same_ca() {
    let dir = tempfile::tempdir().unwrap();
    let first = tls::load_or_create(dir.path(), &[]).unwrap();
    let second = tls::load_or_create(dir.path(), &["my.host".into()]).unwrap();
    assert_eq!(first.ca_pem, second.ca_pem);
    assert_eq!(first.token, second.token);
    assert_ne!(first.cert_pem, second.cert_pem);
    let ca = rustls::pki_types::CertificateDer::from(second.ca_der.clone());
    tls::verify_server_cert(&ca, &pem_cert(&second.cert_pem), "my.host").unwrap();
    // Asking again for the same names reuses the reissued cert.
    let third = tls::load_or_create(dir.path(), &["my.host".into()]).unwrap();
    assert_eq!(second.cert_pem, third.cert_pem);
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        tls::load_or_create(dir.path(), &["not a name!".into()]),
        Err(tls::TlsError::BadSan(_))
    ));
    tls::load_or_create(dir.path(), &[]).unwrap();
    std::fs::write(dir.path().join("token"), "  \n").unwrap();
    assert!(matches!(
        tls::load_or_create(dir.path(), &[]),
        Err(tls::TlsError::BadToken { .. })
    ));
    std::fs::write(dir.path().join("token"), "tok\n").unwrap();
    std::fs::write(dir.path().join("pki/ca.crt"), "garbage").unwrap();
    assert!(matches!(
        tls::load_or_create(dir.path(), &[]),
        Err(tls::TlsError::BadPem { .. })
    ));
}

#[test]
fn rustls_client_completes_handshake_with_server_config_over_h2() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let creds = tls::load_or_create(dir.path(), &[]).unwrap();
    let server_config = tls::server_config(&creds).unwrap();
    assert_eq!(
        server_config.alpn_protocols,
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    );

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(
            creds.ca_der.clone(),
        ))
        .unwrap();
    let mut client_config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    client_config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];

    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut client = rustls::ClientConnection::new(Arc::new(client_config), name).unwrap();
    let mut server = rustls::ServerConnection::new(server_config).unwrap();
    // Shuttle TLS records between the two ends in memory until both finish the handshake.
    for _ in 0..20 {
        if !client.is_handshaking() && !server.is_handshaking() {
            break;
        }
        let mut buf = Vec::new();
        client.write_tls(&mut buf).unwrap();
        server.read_tls(&mut buf.as_slice()).unwrap();
        server.process_new_packets().unwrap();
        let mut buf = Vec::new();
        server.write_tls(&mut buf).unwrap();
        client.read_tls(&mut buf.as_slice()).unwrap();
        client.process_new_packets().unwrap();
    }
    assert!(!client.is_handshaking() && !server.is_handshaking());
    assert_eq!(client.alpn_protocol(), Some(&b"h2"[..]));

    client.writer().write_all(b"ping").unwrap();
    let mut buf = Vec::new();
    client.write_tls(&mut buf).unwrap();
    server.read_tls(&mut buf.as_slice()).unwrap();
    server.process_new_packets().unwrap();
    let mut got = [0u8; 4];
    server.reader().read_exact(&mut got).unwrap();
    assert_eq!(&got, b"ping");
}

#[test]
fn client_for_another_name_rejects_the_serving_cert() {
    let dir = tempfile::tempdir().unwrap();
    let creds = tls::load_or_create(dir.path(), &[]).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(
            creds.ca_der.clone(),
        ))
        .unwrap();
    let client_config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("evil.example").unwrap();
    let mut client = rustls::ClientConnection::new(Arc::new(client_config), name).unwrap();
    let mut server = rustls::ServerConnection::new(tls::server_config(&creds).unwrap()).unwrap();
    let mut failed = false;
    for _ in 0..20 {
        let mut buf = Vec::new();
        client.write_tls(&mut buf).unwrap();
        server.read_tls(&mut buf.as_slice()).unwrap();
        if server.process_new_packets().is_err() {
            failed = true;
            break;
        }
        let mut buf = Vec::new();
        server.write_tls(&mut buf).unwrap();
        client.read_tls(&mut buf.as_slice()).unwrap();
        if client.process_new_packets().is_err() {
            failed = true;
            break;
        }
    }
    assert!(
        failed,
        "the client must refuse a certificate not issued for its server name"
    );
}

// ---- auth ---------------------------------------------------------------------------------

#[test]
fn anonymous_paths_are_health_and_version_only() {
    let cases = [
        ("/version", true),
        ("/version/", true),
        ("/healthz", true),
        ("/livez", true),
        ("/readyz", true),
        ("/readyz/ping", true),
        ("/healthz/etcd", true),
        ("/versionx", false),
        ("/healthzz", false),
        ("/api", false),
        ("/apis", false),
        ("/openapi/v3", false),
        ("/api/v1/namespaces/default/pods", false),
        ("/", false),
        ("", false),
    ];
    for (path, anonymous) in cases {
        assert_eq!(auth::is_anonymous_path(path), anonymous, "{path:?}");
    }
}

#[test]
fn bearer_token_matching() {
    let token = "s3cr3t-token";
    let cases: &[(Option<&str>, bool)] = &[
        (Some("Bearer s3cr3t-token"), true),
        (Some("bearer s3cr3t-token"), true),
        (Some("BEARER  s3cr3t-token"), true),
        (Some("Bearer s3cr3t-token "), true),
        (Some("Bearer s3cr3t-tokeN"), false),
        (Some("Bearer s3cr3t-toke"), false),
        (Some("Bearer s3cr3t-token2"), false),
        (Some("Basic s3cr3t-token"), false),
        (Some("s3cr3t-token"), false),
        (Some("Bearer "), false),
        (Some(""), false),
        (None, false),
    ];
    for (header, ok) in cases {
        let mut headers = http::HeaderMap::new();
        if let Some(h) = header {
            headers.insert(http::header::AUTHORIZATION, h.parse().unwrap());
        }
        assert_eq!(auth::bearer_matches(&headers, token), *ok, "{header:?}");
    }
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::AUTHORIZATION, "Bearer ".parse().unwrap());
    assert!(
        !auth::bearer_matches(&headers, ""),
        "an empty configured token matches nothing"
    );
}

#[tokio::test]
async fn require_token_middleware_answers_401_status() {
    use tower::ServiceExt;
    let token: Arc<str> = Arc::from("tok");
    let app = axum::Router::new().fallback(|| async { "ok" }).layer(
        axum::middleware::from_fn_with_state(token, auth::require_token),
    );
    let cases: &[(&str, Option<&str>, u16)] = &[
        ("/api/v1/pods", None, 401),
        ("/api/v1/pods", Some("Bearer nope"), 401),
        ("/api/v1/pods", Some("Bearer tok"), 200),
        ("/version", None, 200),
        ("/readyz/ping", None, 200),
        ("/version", Some("Bearer tok"), 200),
        // Presented-and-wrong credentials fail authentication even on public paths.
        ("/version", Some("Bearer nope"), 401),
    ];
    for (path, header, code) in cases {
        let mut req = http::Request::builder().uri(*path);
        if let Some(h) = header {
            req = req.header(http::header::AUTHORIZATION, *h);
        }
        let resp = app
            .clone()
            .oneshot(req.body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), *code, "{path} {header:?}");
        if *code == 401 {
            let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
                .await
                .unwrap();
            let status: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(status["kind"], "Status");
            assert_eq!(status["reason"], "Unauthorized");
            assert_eq!(status["code"], 401);
            assert_eq!(status["status"], "Failure");
        }
    }
}

// ---- discovery ----------------------------------------------------------------------------

fn resource<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("{name} missing"))
}

#[test]
fn discovery_lists_short_names() {
    let core = discovery::api_resource_list("", "v1").unwrap();
    let apps = discovery::api_resource_list("apps", "v1").unwrap();
    let sched = discovery::api_resource_list("scheduling.k8s.io", "v1").unwrap();
    let cases = [
        (&apps, "daemonsets", "ds"),
        (&core, "pods", "po"),
        (&core, "nodes", "no"),
        (&core, "namespaces", "ns"),
        (&core, "events", "ev"),
        (&core, "configmaps", "cm"),
        (&core, "serviceaccounts", "sa"),
        (&core, "services", "svc"),
        (&sched, "priorityclasses", "pc"),
    ];
    for (list, name, short) in cases {
        assert_eq!(resource(list, name)["shortNames"], json!([short]), "{name}");
    }
    assert!(
        resource(&core, "secrets").get("shortNames").is_none(),
        "empty shortNames are omitted"
    );
}

#[test]
fn discovery_all_category_and_scope() {
    let core = discovery::api_resource_list("", "v1").unwrap();
    let apps = discovery::api_resource_list("apps", "v1").unwrap();
    let cases = [
        (&apps, "daemonsets", true, true, "DaemonSet", "daemonset"),
        (&core, "pods", true, true, "Pod", "pod"),
        (&core, "services", true, true, "Service", "service"),
        (&core, "nodes", false, false, "Node", "node"),
        (&core, "namespaces", false, false, "Namespace", "namespace"),
        (&core, "configmaps", false, true, "ConfigMap", "configmap"),
        (
            &apps,
            "controllerrevisions",
            false,
            true,
            "ControllerRevision",
            "controllerrevision",
        ),
    ];
    for (list, name, in_all, namespaced, kind, singular) in cases {
        let r = resource(list, name);
        let cats = r.get("categories").cloned().unwrap_or(json!([]));
        assert_eq!(
            cats.as_array().unwrap().contains(&json!("all")),
            in_all,
            "{name}"
        );
        assert_eq!(r["namespaced"], json!(namespaced), "{name}");
        assert_eq!(r["kind"], kind);
        assert_eq!(r["singularName"], singular);
    }
}

#[test]
fn discovery_verbs_and_subresources() {
    let core = discovery::api_resource_list("", "v1").unwrap();
    let apps = discovery::api_resource_list("apps", "v1").unwrap();
    let full = json!([
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch"
    ]);
    assert_eq!(resource(&core, "pods")["verbs"], full);
    assert_eq!(resource(&apps, "daemonsets")["verbs"], full);
    assert_eq!(
        resource(&core, "namespaces")["verbs"],
        json!([
            "create", "delete", "get", "list", "patch", "update", "watch"
        ])
    );
    let cases = [
        (
            &core,
            "pods/status",
            "Pod",
            json!(["get", "patch", "update"]),
        ),
        (&core, "pods/binding", "Binding", json!(["create"])),
        (
            &core,
            "nodes/status",
            "Node",
            json!(["get", "patch", "update"]),
        ),
        (
            &apps,
            "daemonsets/status",
            "DaemonSet",
            json!(["get", "patch", "update"]),
        ),
    ];
    for (list, name, kind, verbs) in cases {
        let r = resource(list, name);
        assert_eq!(r["kind"], kind, "{name}");
        assert_eq!(r["verbs"], verbs, "{name}");
        assert_eq!(r["singularName"], "", "{name}");
    }
    assert_eq!(core["groupVersion"], "v1");
    assert_eq!(apps["groupVersion"], "apps/v1");
    assert!(discovery::api_resource_list("apps", "v2").is_none());
    assert!(discovery::api_resource_list("nope", "v1").is_none());
}

#[test]
fn discovery_documents_decode_as_k8s_openapi_types() {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
        APIGroup, APIGroupList, APIResourceList, APIVersions,
    };
    let versions: APIVersions = serde_json::from_value(discovery::api_versions()).unwrap();
    assert_eq!(versions.versions, vec!["v1".to_owned()]);
    let with_addr: APIVersions =
        serde_json::from_value(discovery::api_versions_for(Some("10.0.0.1:6443"))).unwrap();
    assert_eq!(
        with_addr.server_address_by_client_cidrs[0].server_address,
        "10.0.0.1:6443"
    );

    let groups: APIGroupList = serde_json::from_value(discovery::api_group_list()).unwrap();
    let names: Vec<&str> = groups.groups.iter().map(|g| g.name.as_str()).collect();
    for group in [
        "apps",
        "coordination.k8s.io",
        "scheduling.k8s.io",
        "rbac.authorization.k8s.io",
    ] {
        assert!(names.contains(&group), "{group} in {names:?}");
    }
    assert!(
        !names.contains(&""),
        "the core group is served at /api, not listed in /apis"
    );
    for g in &groups.groups {
        assert_eq!(g.preferred_version.as_ref().unwrap().version, "v1");
    }

    let apps: APIGroup = serde_json::from_value(discovery::api_group("apps").unwrap()).unwrap();
    assert_eq!(apps.versions[0].group_version, "apps/v1");
    assert!(discovery::api_group("").is_none());
    assert!(discovery::api_group("batch").is_none());

    for (group, version) in registry::group_versions() {
        let list: APIResourceList =
            serde_json::from_value(discovery::api_resource_list(group, version).unwrap()).unwrap();
        let served = RESOURCES
            .iter()
            .filter(|r| r.group == group && r.version == version)
            .count();
        assert!(list.resources.len() >= served);
    }
}

#[test]
fn version_info_presents_kubernetes_1_32() {
    let v = discovery::version_info();
    assert_eq!(v["major"], "1");
    assert_eq!(v["minor"], "32");
    assert_eq!(v["gitVersion"], "v1.32.0-everynode");
    let platform = v["platform"].as_str().unwrap();
    assert!(
        platform.contains('/') && !platform.contains("x86_64"),
        "{platform}"
    );
    let info: k8s_openapi::apimachinery::pkg::version::Info = serde_json::from_value(v).unwrap();
    assert_eq!(info.git_version, "v1.32.0-everynode");
}

// ---- OpenAPI v3 ---------------------------------------------------------------------------

#[test]
fn openapi_root_points_at_every_group_version_with_a_hash() {
    let root = openapi::openapi_v3_root();
    for (group, version) in registry::group_versions() {
        let key = if group.is_empty() {
            format!("api/{version}")
        } else {
            format!("apis/{group}/{version}")
        };
        let url = root["paths"][&key]["serverRelativeURL"]
            .as_str()
            .unwrap_or_else(|| panic!("{key}"));
        let (path, hash) = url.split_once("?hash=").unwrap();
        assert_eq!(path, format!("/openapi/v3/{key}"));
        assert_eq!(hash.len(), 16);
        assert!(
            openapi::openapi_v3_group_version(group, version).is_some(),
            "{key}"
        );
    }
    assert_eq!(root, openapi::openapi_v3_root(), "hashes are stable");
    assert!(openapi::openapi_v3_group_version("batch", "v1").is_none());
}

/// kubectl's `--validate=strict` check: find a PATCH operation for the kind and require the
/// `fieldValidation` parameter on it.
#[test]
fn every_kind_has_patch_with_gvk_and_field_validation() {
    for info in RESOURCES {
        let doc = openapi::openapi_v3_group_version(info.group, info.version).unwrap();
        assert_eq!(doc["openapi"], "3.0.0");
        let mut patches_for_kind = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            let Some(patch) = item.get("patch") else {
                continue;
            };
            // Every PATCH (any kind) must list fieldValidation: kubectl stops at the first match.
            let params = patch["parameters"].as_array().unwrap();
            assert!(
                params
                    .iter()
                    .any(|p| p["name"] == "fieldValidation" && p["in"] == "query"),
                "{path}"
            );
            let content = patch["requestBody"]["content"].as_object().unwrap();
            assert!(
                !content.contains_key("application/strategic-merge-patch+json"),
                "{path}"
            );
            assert!(
                content.contains_key("application/merge-patch+json"),
                "{path}"
            );
            let gvk = &patch["x-kubernetes-group-version-kind"];
            if gvk == &json!({"group": info.group, "version": info.version, "kind": info.kind}) {
                patches_for_kind += 1;
            }
        }
        let expected = 1 + usize::from(info.subresources.contains(&"status"));
        assert_eq!(patches_for_kind, expected, "{}", info.kind);
        let schema = format!(
            "io.k8s.api.{}.{}.{}",
            if info.group.is_empty() {
                "core"
            } else {
                info.group.split('.').next().unwrap()
            },
            info.version,
            info.kind
        );
        let s = &doc["components"]["schemas"][&schema];
        assert_eq!(s["type"], "object", "{schema}");
        assert_eq!(
            s["x-kubernetes-group-version-kind"],
            json!([{"group": info.group, "version": info.version, "kind": info.kind}])
        );
    }
}

#[test]
fn openapi_paths_follow_upstream_layout() {
    let apps = openapi::openapi_v3_group_version("apps", "v1").unwrap();
    let core = openapi::openapi_v3_group_version("", "v1").unwrap();
    let cases = [
        (
            &apps,
            "/apis/apps/v1/namespaces/{namespace}/daemonsets",
            "post",
            "createAppsV1NamespacedDaemonSet",
        ),
        (
            &apps,
            "/apis/apps/v1/namespaces/{namespace}/daemonsets/{name}",
            "patch",
            "patchAppsV1NamespacedDaemonSet",
        ),
        (
            &apps,
            "/apis/apps/v1/namespaces/{namespace}/daemonsets/{name}/status",
            "patch",
            "patchAppsV1NamespacedDaemonSetStatus",
        ),
        (
            &apps,
            "/apis/apps/v1/daemonsets",
            "get",
            "listAppsV1DaemonSetForAllNamespaces",
        ),
        (&core, "/api/v1/nodes/{name}", "put", "replaceCoreV1Node"),
        (
            &core,
            "/api/v1/namespaces/{namespace}/pods/{name}/binding",
            "post",
            "createCoreV1NamespacedPodBinding",
        ),
    ];
    for (doc, path, method, id) in cases {
        assert_eq!(
            doc["paths"][path][method]["operationId"], id,
            "{path} {method}"
        );
    }
    assert_eq!(
        core["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/binding"]["post"]["x-kubernetes-group-version-kind"]
            ["kind"],
        "Binding"
    );
    assert!(
        core["paths"]["/api/v1/namespaces"].get("delete").is_none(),
        "namespaces have no deletecollection"
    );
}

// ---- Table --------------------------------------------------------------------------------

fn now() -> Timestamp {
    "2024-05-01T12:00:00Z".parse().unwrap()
}

fn ago(secs: i64) -> String {
    (now() - SignedDuration::from_secs(secs)).to_string()
}

fn info(group: &str, plural: &str) -> &'static registry::ResourceInfo {
    registry::lookup(group, "v1", plural).unwrap()
}

fn one_row(group: &str, plural: &str, obj: Value) -> (Vec<String>, Vec<Value>) {
    let t = table::to_table(
        info(group, plural),
        &[obj],
        IncludeObject::None,
        "7",
        None,
        now(),
    );
    let names = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    let cells = t["rows"][0]["cells"].as_array().unwrap().clone();
    (names, cells)
}

fn cell<'a>(names: &[String], cells: &'a [Value], column: &str) -> &'a Value {
    let i = names
        .iter()
        .position(|n| n == column)
        .unwrap_or_else(|| panic!("no column {column}"));
    &cells[i]
}

#[test]
fn human_duration_matches_kubectl() {
    let cases = [
        (-5, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (45, "45s"),
        (119, "119s"),
        (120, "2m"),
        (150, "2m30s"),
        (599, "9m59s"),
        (600, "10m"),
        (179 * 60 + 59, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 2 * 60, "3h2m"),
        (8 * 3600, "8h"),
        (47 * 3600, "47h"),
        (48 * 3600, "2d"),
        (2 * 86400 + 5 * 3600, "2d5h"),
        (7 * 86400 + 23 * 3600, "7d23h"),
        (8 * 86400, "8d"),
        (729 * 86400, "729d"),
        (730 * 86400, "2y"),
        (3 * 365 * 86400 + 45 * 86400, "3y45d"),
        (8 * 365 * 86400 + 100 * 86400, "8y"),
    ];
    for (secs, want) in cases {
        assert_eq!(
            table::human_duration(SignedDuration::from_secs(secs)),
            want,
            "{secs}s"
        );
    }
    // Sub-second skew into the future still reads as now.
    assert_eq!(
        table::human_duration(SignedDuration::from_millis(-1500)),
        "0s"
    );
}

#[test]
fn wants_table_recognises_kubectl_accept_headers() {
    let cases = [
        (
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json",
            true,
        ),
        ("application/json;as=Table;v=v1beta1;g=meta.k8s.io", true),
        ("application/json; as=Table; g=meta.k8s.io; v=v1", true),
        ("application/json", false),
        (
            "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io",
            false,
        ),
        ("application/json;as=Table;v=v2;g=meta.k8s.io", false),
        ("application/json;as=Table;v=v1;g=example.com", false),
        (
            "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io",
            false,
        ),
        ("", false),
    ];
    for (accept, want) in cases {
        assert_eq!(table::wants_table(accept), want, "{accept}");
    }
}

#[test]
fn include_object_param_defaults_to_metadata() {
    let cases = [
        (None, IncludeObject::Metadata),
        (Some("Metadata"), IncludeObject::Metadata),
        (Some("None"), IncludeObject::None),
        (Some("Object"), IncludeObject::Object),
        (Some("bogus"), IncludeObject::Metadata),
    ];
    for (value, want) in cases {
        assert_eq!(table::include_object_param(value), want, "{value:?}");
    }
}

fn daemonset() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": "kube-system", "creationTimestamp": ago(150), "labels": {"app": "agent"}},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {"spec": {
                "nodeSelector": {"zone": "a", "disk": "ssd"},
                "containers": [{"name": "agent", "image": "agent:1"}, {"name": "log", "image": "fluent:2"}],
            }},
        },
        "status": {"desiredNumberScheduled": 5, "currentNumberScheduled": 4, "numberReady": 3,
                   "updatedNumberScheduled": 2, "numberAvailable": 1, "numberMisscheduled": 0},
    })
}

#[test]
fn daemonset_table_columns_and_cells() {
    let (names, cells) = one_row("apps", "daemonsets", daemonset());
    assert_eq!(
        names,
        [
            "Name",
            "Desired",
            "Current",
            "Ready",
            "Up-to-date",
            "Available",
            "Node Selector",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
    assert_eq!(
        cells,
        vec![
            json!("agent"),
            json!(5),
            json!(4),
            json!(3),
            json!(2),
            json!(1),
            json!("disk=ssd,zone=a"),
            json!("2m30s"),
            json!("agent,log"),
            json!("agent:1,fluent:2"),
            json!("app=agent")
        ]
    );
    let t = table::to_table(
        info("apps", "daemonsets"),
        &[daemonset()],
        IncludeObject::None,
        "7",
        None,
        now(),
    );
    let priorities: Vec<i64> = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["priority"].as_i64().unwrap())
        .collect();
    assert_eq!(
        priorities,
        [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1],
        "wide columns have priority 1"
    );
    assert_eq!(t["columnDefinitions"][0]["format"], "name");

    let mut no_selector = daemonset();
    no_selector["spec"]["template"]["spec"]
        .as_object_mut()
        .unwrap()
        .remove("nodeSelector");
    no_selector.as_object_mut().unwrap().remove("status");
    let (names, cells) = one_row("apps", "daemonsets", no_selector);
    assert_eq!(cell(&names, &cells, "Node Selector"), "<none>");
    assert_eq!(cell(&names, &cells, "Desired"), 0);
}

#[test]
fn table_envelope_and_row_objects() {
    let objs = [daemonset()];
    let ds = info("apps", "daemonsets");
    let t = table::to_table(ds, &objs, IncludeObject::Metadata, "42", Some("tok"), now());
    assert_eq!(t["kind"], "Table");
    assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(
        t["metadata"],
        json!({"resourceVersion": "42", "continue": "tok"})
    );
    let obj = &t["rows"][0]["object"];
    assert_eq!(obj["kind"], "PartialObjectMetadata");
    assert_eq!(obj["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(obj["metadata"]["namespace"], "kube-system");
    assert!(obj.get("spec").is_none());

    let t = table::to_table(ds, &objs, IncludeObject::Object, "42", None, now());
    assert_eq!(t["rows"][0]["object"], daemonset());
    assert!(t["metadata"].get("continue").is_none());

    let t = table::to_table(ds, &objs, IncludeObject::None, "42", None, now());
    assert!(t["rows"][0].get("object").is_none());

    let t = table::to_table(ds, &[], IncludeObject::Metadata, "42", None, now());
    assert_eq!(t["rows"], json!([]));
    assert_eq!(
        t["columnDefinitions"].as_array().unwrap().len(),
        11,
        "columns even with no rows"
    );
}

fn pod(status: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "agent-x", "namespace": "default", "creationTimestamp": ago(3600)},
        "spec": {"nodeName": "node-1", "containers": [{"name": "agent", "image": "agent:1"}]},
        "status": status,
    })
}

#[test]
fn pod_table_status_ready_restarts() {
    let running = pod(json!({
        "phase": "Running", "podIP": "10.0.0.5", "podIPs": [{"ip": "10.0.0.5"}],
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [{"name": "agent", "ready": true, "restartCount": 0, "state": {"running": {"startedAt": ago(3500)}}}],
    }));
    let pending = pod(json!({"phase": "Pending"}));
    let creating = pod(json!({
        "phase": "Pending",
        "containerStatuses": [{"name": "agent", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}],
    }));
    let crashloop = pod(json!({
        "phase": "Running",
        "containerStatuses": [{"name": "agent", "ready": false, "restartCount": 5,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(300)}}}],
    }));
    let errored = pod(json!({
        "phase": "Failed",
        "containerStatuses": [{"name": "agent", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 2, "reason": "Error"}}}],
    }));
    let completed = pod(json!({
        "phase": "Succeeded",
        "containerStatuses": [{"name": "agent", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}],
    }));
    let signalled = pod(json!({
        "phase": "Running",
        "containerStatuses": [{"name": "agent", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 137, "signal": 9}}}],
    }));
    let mut terminating = running.clone();
    terminating["metadata"]["deletionTimestamp"] = json!(ago(10));
    let mut terminating_done = completed.clone();
    terminating_done["metadata"]["deletionTimestamp"] = json!(ago(10));
    let mut node_lost = running.clone();
    node_lost["metadata"]["deletionTimestamp"] = json!(ago(10));
    node_lost["status"]["reason"] = json!("NodeLost");

    let cases = [
        ("running", running, "1/1", "Running", "0"),
        ("pending", pending, "0/1", "Pending", "0"),
        ("creating", creating, "0/1", "ContainerCreating", "0"),
        (
            "crashloop",
            crashloop,
            "0/1",
            "CrashLoopBackOff",
            "5 (5m ago)",
        ),
        ("error", errored, "0/1", "Error", "0"),
        ("completed", completed, "0/1", "Completed", "0"),
        ("signalled", signalled, "0/1", "Signal:9", "0"),
        ("terminating", terminating, "1/1", "Terminating", "0"),
        (
            "terminating after success",
            terminating_done,
            "0/1",
            "Completed",
            "0",
        ),
        ("node lost", node_lost, "1/1", "Unknown", "0"),
    ];
    for (label, obj, ready, status, restarts) in cases {
        let (names, cells) = one_row("", "pods", obj);
        assert_eq!(cell(&names, &cells, "Ready"), ready, "{label}");
        assert_eq!(cell(&names, &cells, "Status"), status, "{label}");
        assert_eq!(cell(&names, &cells, "Restarts"), restarts, "{label}");
        assert_eq!(cell(&names, &cells, "Age"), "60m", "{label}");
    }
}

#[test]
fn pod_table_columns_wide_cells_and_conditions() {
    let running = pod(json!({
        "phase": "Running", "podIPs": [{"ip": "10.0.0.5"}],
        "conditions": [{"type": "Ready", "status": "True"}, {"type": "example.com/gate", "status": "False"}],
        "containerStatuses": [{"name": "agent", "ready": true, "restartCount": 0, "state": {"running": {}}}],
    }));
    let (names, cells) = one_row("", "pods", running.clone());
    assert_eq!(
        names,
        [
            "Name",
            "Ready",
            "Status",
            "Restarts",
            "Age",
            "IP",
            "Node",
            "Nominated Node",
            "Readiness Gates"
        ]
    );
    assert_eq!(
        &cells[5..],
        &[
            json!("10.0.0.5"),
            json!("node-1"),
            json!("<none>"),
            json!("<none>")
        ]
    );

    let mut gated = running;
    gated["spec"]["readinessGates"] =
        json!([{"conditionType": "example.com/gate"}, {"conditionType": "Ready"}]);
    let (names, cells) = one_row("", "pods", gated);
    assert_eq!(cell(&names, &cells, "Readiness Gates"), "1/2");

    let unscheduled = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}});
    let (names, cells) = one_row("", "pods", unscheduled);
    assert_eq!(cell(&names, &cells, "Node"), "<none>");
    assert_eq!(cell(&names, &cells, "IP"), "<none>");
    assert_eq!(cell(&names, &cells, "Age"), "<unknown>");

    let t = table::to_table(
        info("", "pods"),
        &[pod(json!({"phase": "Succeeded"}))],
        IncludeObject::None,
        "1",
        None,
        now(),
    );
    assert_eq!(t["rows"][0]["conditions"][0]["type"], "Completed");
    assert_eq!(t["rows"][0]["conditions"][0]["reason"], "Succeeded");
}

#[test]
fn pod_table_init_containers() {
    let base = |init_statuses: Value, conditions: Value| {
        let mut p = pod(
            json!({"phase": "Pending", "initContainerStatuses": init_statuses, "conditions": conditions}),
        );
        p["spec"]["initContainers"] =
            json!([{"name": "setup"}, {"name": "sidecar", "restartPolicy": "Always"}]);
        p
    };
    let cases = [
        (
            "waiting on first init",
            base(
                json!([{"name": "setup", "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}]),
                json!([]),
            ),
            "Init:0/2",
            "0/2",
        ),
        (
            "init crashing",
            base(
                json!([{"name": "setup", "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]),
                json!([]),
            ),
            "Init:CrashLoopBackOff",
            "0/2",
        ),
        (
            "init failed",
            base(
                json!([{"name": "setup", "restartCount": 0, "state": {"terminated": {"exitCode": 3}}}]),
                json!([]),
            ),
            "Init:ExitCode:3",
            "0/2",
        ),
        (
            "sidecar started and ready",
            base(
                json!([
                    {"name": "setup", "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                    {"name": "sidecar", "restartCount": 0, "started": true, "ready": true, "state": {"running": {}}},
                ]),
                json!([{"type": "Initialized", "status": "True"}]),
            ),
            "Pending",
            "1/2",
        ),
    ];
    for (label, obj, status, ready) in cases {
        let (names, cells) = one_row("", "pods", obj);
        assert_eq!(cell(&names, &cells, "Status"), status, "{label}");
        assert_eq!(cell(&names, &cells, "Ready"), ready, "{label}");
    }
}

fn node(ready: Option<&str>, unschedulable: bool, labels: Value) -> Value {
    let conditions = match ready {
        Some(s) => {
            json!([{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": s}])
        }
        None => json!([]),
    };
    json!({
        "metadata": {"name": "node-1", "creationTimestamp": ago(3 * 86400), "labels": labels},
        "spec": {"unschedulable": unschedulable},
        "status": {
            "conditions": conditions,
            "addresses": [{"type": "Hostname", "address": "node-1"}, {"type": "InternalIP", "address": "10.0.0.1"}],
            "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Everynode Sim", "kernelVersion": "",
                         "containerRuntimeVersion": "sim://1.0"},
        },
    })
}

#[test]
fn node_table_status_and_roles() {
    let cases = [
        (
            "ready",
            node(Some("True"), false, json!({})),
            "Ready",
            "<none>",
        ),
        (
            "not ready",
            node(Some("False"), false, json!({})),
            "NotReady",
            "<none>",
        ),
        (
            "ready unknown",
            node(Some("Unknown"), false, json!({})),
            "NotReady",
            "<none>",
        ),
        (
            "no condition",
            node(None, false, json!({})),
            "Unknown",
            "<none>",
        ),
        (
            "cordoned",
            node(Some("True"), true, json!({})),
            "Ready,SchedulingDisabled",
            "<none>",
        ),
        (
            "not ready cordoned",
            node(Some("False"), true, json!({})),
            "NotReady,SchedulingDisabled",
            "<none>",
        ),
        (
            "control plane",
            node(
                Some("True"),
                false,
                json!({"node-role.kubernetes.io/control-plane": ""}),
            ),
            "Ready",
            "control-plane",
        ),
        (
            "several roles",
            node(
                Some("True"),
                false,
                json!({"node-role.kubernetes.io/worker": "", "node-role.kubernetes.io/": "x", "kubernetes.io/role": "edge",
                       "node-role.kubernetes.io/control-plane": "true"}),
            ),
            "Ready",
            "control-plane,edge,worker",
        ),
    ];
    for (label, obj, status, roles) in cases {
        let (names, cells) = one_row("", "nodes", obj);
        assert_eq!(cell(&names, &cells, "Status"), status, "{label}");
        assert_eq!(cell(&names, &cells, "Roles"), roles, "{label}");
    }
    let (names, cells) = one_row("", "nodes", node(Some("True"), false, json!({})));
    assert_eq!(
        names,
        [
            "Name",
            "Status",
            "Roles",
            "Age",
            "Version",
            "Internal-IP",
            "External-IP",
            "OS-Image",
            "Kernel-Version",
            "Container-Runtime"
        ]
    );
    assert_eq!(
        cells,
        vec![
            json!("node-1"),
            json!("Ready"),
            json!("<none>"),
            json!("3d"),
            json!("v1.32.0"),
            json!("10.0.0.1"),
            json!("<none>"),
            json!("Everynode Sim"),
            json!("<unknown>"),
            json!("sim://1.0")
        ]
    );
}

/// Group, plural, object, expected column names, expected cells.
type KindCase = (
    &'static str,
    &'static str,
    Value,
    Vec<&'static str>,
    Vec<Value>,
);

#[test]
fn other_kinds_table_columns() {
    let revision = json!({
        "metadata": {"name": "agent-5d8f", "creationTimestamp": ago(30), "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "uid": "u", "controller": true}]},
        "revision": 3,
    });
    let event = json!({
        "metadata": {"name": "agent.17a"},
        "involvedObject": {"kind": "DaemonSet", "name": "agent", "namespace": "default"},
        "reason": "SuccessfulCreate", "type": "Normal", "message": "Created pod: agent-x \n",
        "firstTimestamp": ago(600), "lastTimestamp": ago(65), "count": 2,
        "source": {"component": "daemonset-controller"},
    });
    let namespace = json!({"metadata": {"name": "default", "creationTimestamp": ago(86400)}, "status": {"phase": "Active"}});
    let lease = json!({"metadata": {"name": "everynode-controller", "creationTimestamp": ago(5)}, "spec": {"holderIdentity": "host-1"}});
    let priority = json!({"metadata": {"name": "system-node-critical", "creationTimestamp": ago(5)}, "value": 2000001000, "globalDefault": false, "preemptionPolicy": "PreemptLowerPriority"});
    let secret = json!({"metadata": {"name": "s", "creationTimestamp": ago(5)}, "type": "Opaque", "data": {"a": "", "b": ""}});
    let cases: Vec<KindCase> = vec![
        (
            "apps",
            "controllerrevisions",
            revision,
            vec!["Name", "Controller", "Revision", "Age"],
            vec![
                json!("agent-5d8f"),
                json!("daemonset.apps/agent"),
                json!(3),
                json!("30s"),
            ],
        ),
        (
            "",
            "events",
            event,
            vec![
                "Last Seen",
                "Type",
                "Reason",
                "Object",
                "Subobject",
                "Source",
                "Message",
                "First Seen",
                "Count",
                "Name",
            ],
            vec![
                json!("65s"),
                json!("Normal"),
                json!("SuccessfulCreate"),
                json!("daemonset/agent"),
                json!(""),
                json!("daemonset-controller"),
                json!("Created pod: agent-x"),
                json!("10m"),
                json!(2),
                json!("agent.17a"),
            ],
        ),
        (
            "",
            "namespaces",
            namespace,
            vec!["Name", "Status", "Age"],
            vec![json!("default"), json!("Active"), json!("24h")],
        ),
        (
            "coordination.k8s.io",
            "leases",
            lease,
            vec!["Name", "Holder", "Age"],
            vec![json!("everynode-controller"), json!("host-1"), json!("5s")],
        ),
        (
            "scheduling.k8s.io",
            "priorityclasses",
            priority,
            vec!["Name", "Value", "Global-Default", "Age", "PreemptionPolicy"],
            vec![
                json!("system-node-critical"),
                json!(2000001000),
                json!(false),
                json!("5s"),
                json!("PreemptLowerPriority"),
            ],
        ),
        (
            "",
            "secrets",
            secret,
            vec!["Name", "Type", "Data", "Age"],
            vec![json!("s"), json!("Opaque"), json!(2), json!("5s")],
        ),
    ];
    for (group, plural, obj, want_names, want_cells) in cases {
        let (names, cells) = one_row(group, plural, obj);
        assert_eq!(names, want_names, "{plural}");
        assert_eq!(cells, want_cells, "{plural}");
    }
}

#[test]
fn event_without_timestamps_uses_event_time_and_series() {
    let event = json!({
        "metadata": {"name": "e"},
        "involvedObject": {"kind": "Node"},
        "eventTime": ago(90),
        "series": {"count": 7, "lastObservedTime": ago(3)},
        "reportingComponent": "kubelet", "reportingInstance": "node-1",
    });
    let (names, cells) = one_row("", "events", event);
    assert_eq!(cell(&names, &cells, "Last Seen"), "3s");
    assert_eq!(cell(&names, &cells, "First Seen"), "90s");
    assert_eq!(cell(&names, &cells, "Count"), 7);
    assert_eq!(cell(&names, &cells, "Object"), "node");
    assert_eq!(cell(&names, &cells, "Source"), "kubelet, node-1");
}

#[test]
fn default_columns_are_name_and_age() {
    let obj = json!({"metadata": {"name": "x", "creationTimestamp": ago(7200)}});
    // A kind without its own printer: pretend-unknown resource info.
    let mut unknown = *info("", "configmaps");
    unknown.kind = "Widget";
    unknown.group = "example.com";
    let t = table::to_table(&unknown, &[obj], IncludeObject::None, "1", None, now());
    let names: Vec<&str> = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Name", "Age"]);
    assert_eq!(t["rows"][0]["cells"], json!(["x", "120m"]));
}

#[test]
fn malformed_objects_still_print() {
    let junk = [
        json!(null),
        json!([]),
        json!({"metadata": "nope", "status": 5}),
        json!({"spec": {"containers": "x"}}),
    ];
    for info in RESOURCES {
        let objs: Vec<Value> = junk.to_vec();
        let t = table::to_table(info, &objs, IncludeObject::Metadata, "1", None, now());
        let columns = t["columnDefinitions"].as_array().unwrap().len();
        for row in t["rows"].as_array().unwrap() {
            assert_eq!(
                row["cells"].as_array().unwrap().len(),
                columns,
                "{}",
                info.kind
            );
        }
    }
}

// ---- real kubectl -------------------------------------------------------------------------

/// Runs kubectl against `kubeconfig` with a private cache dir; returns (success, stdout, stderr).
fn kubectl(
    home: &std::path::Path,
    kubeconfig: &std::path::Path,
    args: &[&str],
    stdin: Option<&str>,
) -> (bool, String, String) {
    let mut cmd = std::process::Command::new("kubectl");
    cmd.args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("HOME", home)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_kubectl_speaks_to_the_server() {
    if std::process::Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_err()
    {
        eprintln!("kubectl not installed; skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut config = everynode_apiserver::ApiServerConfig::new(dir.path().join("data"));
    config.listen = "127.0.0.1:0".parse().unwrap();
    let server = everynode_apiserver::ApiServer::start(config).await.unwrap();
    let kc = server.kubeconfig_path().to_path_buf();
    let home = dir.path().to_path_buf();
    let run = move |args: Vec<&'static str>, stdin: Option<&'static str>| {
        let (kc, home) = (kc.clone(), home.clone());
        tokio::task::spawn_blocking(move || kubectl(&home, &kc, &args, stdin))
    };
    let (ok, out, err) = run(vec!["version", "-o", "json"], None).await.unwrap();
    assert!(ok, "{err}");
    assert!(out.contains("v1.32.0-everynode"), "{out}");

    let (ok, out, err) = run(vec!["api-resources"], None).await.unwrap();
    assert!(ok, "{err}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("daemonsets") && l.contains(" ds ") && l.contains("apps/v1")),
        "{out}"
    );

    let ds = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: default}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      nodeSelector: {disk: ssd}
      containers: [{name: agent, image: "agent:1"}]
"#;
    let (ok, out, err) = run(vec!["apply", "-f", "-"], Some(ds)).await.unwrap();
    assert!(ok, "apply: {out} {err}");
    assert!(out.contains("daemonset.apps/agent created"), "{out}");
    assert!(
        !err.contains("warning"),
        "no fallback warnings on apply: {err}"
    );

    // A second apply goes through client-side apply's strategic merge patch, which kubectl
    // builds from its compiled-in types because our OpenAPI offers no SMP schemas.
    let (ok, out, err) = run(
        vec!["apply", "-f", "-"],
        Some(&*ds.replace("agent:1", "agent:2").leak()),
    )
    .await
    .unwrap();
    assert!(ok, "re-apply: {out} {err}");
    assert!(out.contains("daemonset.apps/agent configured"), "{out}");
    assert!(!err.contains("warning"), "{err}");

    // Strict validation: kubectl found fieldValidation in our OpenAPI and the server rejects.
    let bad = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: bad, namespace: default}
spec:
  selector: {matchLabels: {app: bad}}
  bogusField: 1
  template:
    metadata: {labels: {app: bad}}
    spec:
      containers: [{name: c, image: "c:1"}]
"#;
    let (ok, out, err) = run(vec!["apply", "-f", "-"], Some(bad)).await.unwrap();
    assert!(!ok, "unknown field must be rejected: {out}");
    assert!(err.contains("bogusField"), "{err}");

    let (ok, out, err) = run(vec!["get", "ds", "-o", "wide"], None).await.unwrap();
    assert!(ok, "{err}");
    let header: Vec<&str> = out
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "NAME",
            "DESIRED",
            "CURRENT",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "NODE",
            "SELECTOR",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ],
        "{out}"
    );
    assert!(
        out.contains("disk=ssd") && out.contains("agent:2") && out.contains("app=agent"),
        "{out}"
    );

    // The `all` category from discovery.
    let (ok, out, err) = run(vec!["get", "all"], None).await.unwrap();
    assert!(ok, "{err}");
    assert!(out.contains("daemonset.apps/agent"), "{out}");

    let (ok, out, err) = run(vec!["get", "ns"], None).await.unwrap();
    assert!(ok, "{err}");
    assert!(
        out.lines().next().unwrap_or_default().starts_with("NAME"),
        "{out}"
    );
    assert!(out.contains("Active"), "{out}");

    eprintln!("{out}");
    // Not `shutdown()`: at the time of writing `Store::close` waits forever for the store
    // thread (reported to the integrator); this test is about the wire, not shutdown.
    drop(server);
}
