//! Server-side defaulting of the objects we serve (spec section 1; upstream
//! `pkg/apis/apps/v1/defaults.go` and `pkg/apis/core/v1/defaults.go`).
//!
//! k8s-openapi types carry no defaults, so the API server runs these on every object it
//! decodes, before validation. Every function only fills fields that are unset, which makes
//! each of them idempotent: applying one twice gives the same object as applying it once.

use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetUpdateStrategy, RollingUpdateDaemonSet};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, DownwardAPIVolumeFile, EmptyDirVolumeSource, EnvVar,
    EphemeralContainer, HTTPGetAction, Lifecycle, Namespace, NamespaceSpec, NamespaceStatus, Node,
    ObjectFieldSelector, Pod, PodSecurityContext, PodSpec, PodTemplateSpec, Probe, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// `spec.updateStrategy.type` value for rolling updates (the default).
pub const ROLLING_UPDATE: &str = "RollingUpdate";
/// `spec.updateStrategy.type` value for replace-only-when-deleted updates.
pub const ON_DELETE: &str = "OnDelete";
/// Default `spec.revisionHistoryLimit` of a DaemonSet.
pub const DEFAULT_REVISION_HISTORY_LIMIT: i32 = 10;
/// Default `terminationGracePeriodSeconds` of a pod.
pub const DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS: i64 = 30;
/// Default `schedulerName` of a pod.
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";
/// Default container `terminationMessagePath`.
pub const DEFAULT_TERMINATION_MESSAGE_PATH: &str = "/dev/termination-log";
/// Default file mode (0644) of secret, configMap, downwardAPI and projected volumes.
pub const DEFAULT_VOLUME_MODE: i32 = 0o644;
/// Label every namespace carries with its own name (upstream since 1.21).
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";
/// The finalizer the namespace controller removes once the namespace is empty.
pub const NAMESPACE_FINALIZER: &str = "kubernetes";

fn set_if_none<T>(slot: &mut Option<T>, value: impl FnOnce() -> T) {
    if slot.is_none() {
        *slot = Some(value());
    }
}

fn set_str_if_empty(slot: &mut Option<String>, value: &str) {
    // Upstream's fields are plain strings where "" means unset; an explicit "" in JSON is
    // therefore defaulted too.
    if slot.as_deref().is_none_or(str::is_empty) {
        *slot = Some(value.to_string());
    }
}

/// Applies the apps/v1 DaemonSet defaults (spec 1.1) and the pod template defaults (1.3).
///
/// With `updateStrategy.type: OnDelete` a user-supplied `rollingUpdate` block is left exactly
/// as written (and none is created).
pub fn default_daemonset(ds: &mut DaemonSet) {
    let spec = &mut ds.spec;
    let strategy = spec
        .update_strategy
        .get_or_insert_with(DaemonSetUpdateStrategy::default);
    set_str_if_empty(&mut strategy.type_, ROLLING_UPDATE);
    if strategy.type_.as_deref() == Some(ROLLING_UPDATE) {
        let ru = strategy
            .rolling_update
            .get_or_insert_with(RollingUpdateDaemonSet::default);
        set_if_none(&mut ru.max_unavailable, || IntOrString::Int(1));
        set_if_none(&mut ru.max_surge, || IntOrString::Int(0));
    }
    set_if_none(&mut spec.revision_history_limit, || {
        DEFAULT_REVISION_HISTORY_LIMIT
    });
    default_pod_template_spec(&mut spec.template);
}

/// Applies the pod spec defaults of spec 1.3 to a pod template (templates do not get the
/// pod-only defaults of 1.4).
pub fn default_pod_template_spec(t: &mut PodTemplateSpec) {
    if let Some(spec) = t.spec.as_mut() {
        default_pod_spec(spec);
    }
}

/// Applies spec 1.3 to a pod spec: pod-level fields, every container and init container,
/// probes, lifecycle handlers, volumes and downward-API field references.
pub fn default_pod_spec(s: &mut PodSpec) {
    set_str_if_empty(&mut s.dns_policy, "ClusterFirst");
    set_str_if_empty(&mut s.restart_policy, "Always");
    set_if_none(&mut s.security_context, PodSecurityContext::default);
    set_if_none(&mut s.termination_grace_period_seconds, || {
        DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS
    });
    set_str_if_empty(&mut s.scheduler_name, DEFAULT_SCHEDULER_NAME);
    for c in s.containers.iter_mut() {
        default_container(c);
    }
    for c in s.init_containers.iter_mut().flatten() {
        default_container(c);
    }
    for c in s.ephemeral_containers.iter_mut().flatten() {
        default_ephemeral_container(c);
    }
    for v in s.volumes.iter_mut().flatten() {
        default_volume(v);
    }
}

/// Applies 1.3 and then the pod-only defaults of 1.4: `enableServiceLinks: true`, requests
/// copied from limits, and `hostPort = containerPort` under `hostNetwork`.
pub fn default_pod(p: &mut Pod) {
    let Some(spec) = p.spec.as_mut() else {
        return;
    };
    default_pod_spec(spec);
    set_if_none(&mut spec.enable_service_links, || true);
    let host_network = spec.host_network == Some(true);
    let containers = spec
        .containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut().flatten());
    for c in containers {
        default_requests_from_limits(c);
        if host_network {
            for port in c.ports.iter_mut().flatten() {
                if port.host_port.unwrap_or(0) == 0 {
                    port.host_port = Some(port.container_port);
                }
            }
        }
    }
}

/// Node defaults: `status.allocatable` is copied from `status.capacity` when absent, as
/// upstream's node status defaulting does. Nothing else on a Node has a default.
pub fn default_node(n: &mut Node) {
    if let Some(status) = n.status.as_mut()
        && status.allocatable.is_none()
        && let Some(capacity) = &status.capacity
    {
        status.allocatable = Some(capacity.clone());
    }
}

/// Namespace defaults: the `kubernetes.io/metadata.name` label (always equal to the name),
/// `spec.finalizers: ["kubernetes"]` when the list is absent, and `status.phase: Active`
/// when unset. (Upstream forces the finalizer on create in its registry strategy; an
/// explicit empty list is kept here so that re-decoding a finalized namespace is harmless.)
pub fn default_namespace(ns: &mut Namespace) {
    if let Some(name) = ns.metadata.name.as_ref().filter(|n| !n.is_empty()) {
        ns.metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert(NAMESPACE_NAME_LABEL.to_string(), name.clone());
    }
    // Only an absent list is filled: once the namespace controller has finalized a
    // terminating namespace (`finalizers: []`), decoding it again must not bring the
    // finalizer back, or the namespace could never go away.
    let spec = ns.spec.get_or_insert_with(NamespaceSpec::default);
    set_if_none(&mut spec.finalizers, || {
        vec![NAMESPACE_FINALIZER.to_string()]
    });
    let status = ns.status.get_or_insert_with(NamespaceStatus::default);
    set_str_if_empty(&mut status.phase, "Active");
}

/// The pull policy upstream picks for `image`: `Always` for a `latest` tag or an image with
/// neither tag nor digest, `IfNotPresent` otherwise (including unparsable references, which
/// validation rejects anyway).
pub fn default_image_pull_policy(image: &str) -> &'static str {
    match image_tag(image) {
        Some(tag) if tag == "latest" => "Always",
        _ => "IfNotPresent",
    }
}

/// The tag a reference resolves to: the explicit tag, `latest` when it has neither tag nor
/// digest, `""` when it has only a digest, and `None` when it does not parse.
fn image_tag(image: &str) -> Option<String> {
    if image.is_empty() || image.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    if name.is_empty() || digest.is_some_and(|d| !d.contains(':')) {
        return None;
    }
    // A ':' after the last '/' separates the tag; one before it is a registry port.
    let last_segment_start = name.rfind('/').map_or(0, |i| i + 1);
    let (repo, tag) = match name[last_segment_start..].rfind(':') {
        Some(i) => {
            let split = last_segment_start + i;
            (&name[..split], Some(&name[split + 1..]))
        }
        None => (name, None),
    };
    // Repository paths are lowercase in the reference grammar (the registry host aside).
    let path = match repo.split_once('/') {
        Some((host, rest)) if host.contains(['.', ':']) || host == "localhost" => rest,
        _ => repo,
    };
    if repo.is_empty() || path.chars().any(|c| c.is_ascii_uppercase()) {
        return None;
    }
    match (tag, digest) {
        (Some(""), _) => None,
        (Some(t), _) => Some(t.to_string()),
        (None, Some(_)) => Some(String::new()),
        (None, None) => Some("latest".to_string()),
    }
}

fn default_container(c: &mut Container) {
    if c.image_pull_policy.as_deref().is_none_or(str::is_empty) {
        c.image_pull_policy =
            Some(default_image_pull_policy(c.image.as_deref().unwrap_or("")).to_string());
    }
    set_str_if_empty(
        &mut c.termination_message_path,
        DEFAULT_TERMINATION_MESSAGE_PATH,
    );
    set_str_if_empty(&mut c.termination_message_policy, "File");
    default_ports(c.ports.as_mut());
    for probe in [
        &mut c.liveness_probe,
        &mut c.readiness_probe,
        &mut c.startup_probe,
    ] {
        if let Some(p) = probe.as_mut() {
            default_probe(p);
        }
    }
    default_lifecycle(c.lifecycle.as_mut());
    default_env(c.env.as_mut());
}

// Ephemeral containers are a separate type upstream too, with the same container defaults.
fn default_ephemeral_container(c: &mut EphemeralContainer) {
    if c.image_pull_policy.as_deref().is_none_or(str::is_empty) {
        c.image_pull_policy =
            Some(default_image_pull_policy(c.image.as_deref().unwrap_or("")).to_string());
    }
    set_str_if_empty(
        &mut c.termination_message_path,
        DEFAULT_TERMINATION_MESSAGE_PATH,
    );
    set_str_if_empty(&mut c.termination_message_policy, "File");
    default_ports(c.ports.as_mut());
    for probe in [
        &mut c.liveness_probe,
        &mut c.readiness_probe,
        &mut c.startup_probe,
    ] {
        if let Some(p) = probe.as_mut() {
            default_probe(p);
        }
    }
    default_lifecycle(c.lifecycle.as_mut());
    default_env(c.env.as_mut());
}

fn default_ports(ports: Option<&mut Vec<ContainerPort>>) {
    for port in ports.into_iter().flatten() {
        set_str_if_empty(&mut port.protocol, "TCP");
    }
}

fn default_probe(p: &mut Probe) {
    set_if_none(&mut p.timeout_seconds, || 1);
    set_if_none(&mut p.period_seconds, || 10);
    set_if_none(&mut p.success_threshold, || 1);
    set_if_none(&mut p.failure_threshold, || 3);
    if let Some(h) = p.http_get.as_mut() {
        default_http_get(h);
    }
}

fn default_lifecycle(l: Option<&mut Lifecycle>) {
    let Some(l) = l else {
        return;
    };
    for handler in [&mut l.post_start, &mut l.pre_stop].into_iter().flatten() {
        if let Some(h) = handler.http_get.as_mut() {
            default_http_get(h);
        }
    }
}

fn default_http_get(h: &mut HTTPGetAction) {
    set_str_if_empty(&mut h.path, "/");
    set_str_if_empty(&mut h.scheme, "HTTP");
}

fn default_env(env: Option<&mut Vec<EnvVar>>) {
    for var in env.into_iter().flatten() {
        if let Some(field_ref) = var.value_from.as_mut().and_then(|v| v.field_ref.as_mut()) {
            default_field_ref(field_ref);
        }
    }
}

fn default_field_ref(f: &mut ObjectFieldSelector) {
    set_str_if_empty(&mut f.api_version, "v1");
}

fn default_downward_items(items: Option<&mut Vec<DownwardAPIVolumeFile>>) {
    for item in items.into_iter().flatten() {
        if let Some(f) = item.field_ref.as_mut() {
            default_field_ref(f);
        }
    }
}

fn default_volume(v: &mut Volume) {
    if !volume_has_source(v) {
        v.empty_dir = Some(EmptyDirVolumeSource::default());
    }
    if let Some(s) = v.secret.as_mut() {
        set_if_none(&mut s.default_mode, || DEFAULT_VOLUME_MODE);
    }
    if let Some(c) = v.config_map.as_mut() {
        set_if_none(&mut c.default_mode, || DEFAULT_VOLUME_MODE);
    }
    if let Some(d) = v.downward_api.as_mut() {
        set_if_none(&mut d.default_mode, || DEFAULT_VOLUME_MODE);
        default_downward_items(d.items.as_mut());
    }
    if let Some(p) = v.projected.as_mut() {
        set_if_none(&mut p.default_mode, || DEFAULT_VOLUME_MODE);
        for source in p.sources.iter_mut().flatten() {
            if let Some(d) = source.downward_api.as_mut() {
                default_downward_items(d.items.as_mut());
            }
        }
    }
    if let Some(h) = v.host_path.as_mut() {
        set_if_none(&mut h.type_, String::new);
    }
}

/// The names of the volume sources set on `v` (its JSON keys), used by defaulting (no
/// source → emptyDir) and validation (exactly one source).
pub fn volume_sources(v: &Volume) -> Vec<&'static str> {
    let present = [
        ("awsElasticBlockStore", v.aws_elastic_block_store.is_some()),
        ("azureDisk", v.azure_disk.is_some()),
        ("azureFile", v.azure_file.is_some()),
        ("cephfs", v.cephfs.is_some()),
        ("cinder", v.cinder.is_some()),
        ("configMap", v.config_map.is_some()),
        ("csi", v.csi.is_some()),
        ("downwardAPI", v.downward_api.is_some()),
        ("emptyDir", v.empty_dir.is_some()),
        ("ephemeral", v.ephemeral.is_some()),
        ("fc", v.fc.is_some()),
        ("flexVolume", v.flex_volume.is_some()),
        ("flocker", v.flocker.is_some()),
        ("gcePersistentDisk", v.gce_persistent_disk.is_some()),
        ("gitRepo", v.git_repo.is_some()),
        ("glusterfs", v.glusterfs.is_some()),
        ("hostPath", v.host_path.is_some()),
        ("image", v.image.is_some()),
        ("iscsi", v.iscsi.is_some()),
        ("nfs", v.nfs.is_some()),
        ("persistentVolumeClaim", v.persistent_volume_claim.is_some()),
        ("photonPersistentDisk", v.photon_persistent_disk.is_some()),
        ("portworxVolume", v.portworx_volume.is_some()),
        ("projected", v.projected.is_some()),
        ("quobyte", v.quobyte.is_some()),
        ("rbd", v.rbd.is_some()),
        ("scaleIO", v.scale_io.is_some()),
        ("secret", v.secret.is_some()),
        ("storageos", v.storageos.is_some()),
        ("vsphereVolume", v.vsphere_volume.is_some()),
    ];
    present
        .into_iter()
        .filter(|(_, set)| *set)
        .map(|(name, _)| name)
        .collect()
}

fn volume_has_source(v: &Volume) -> bool {
    !volume_sources(v).is_empty()
}

fn default_requests_from_limits(c: &mut Container) {
    let Some(resources) = c.resources.as_mut() else {
        return;
    };
    let Some(limits) = resources.limits.as_ref().filter(|l| !l.is_empty()) else {
        return;
    };
    let requests = resources.requests.get_or_insert_with(Default::default);
    for (name, quantity) in limits {
        requests
            .entry(name.clone())
            .or_insert_with(|| quantity.clone());
    }
}

/// Copies the system fields a client may omit on update from the stored object, as
/// upstream's generic update path does before validation: `uid` when the update has none,
/// `creationTimestamp`, `deletionTimestamp` once set, and `deletionGracePeriodSeconds` when
/// the update dropped it. (`generation` and `resourceVersion` are the server's own business.)
/// Without this, `validate_object_meta_update` would reject a plain `kubectl replace`.
pub fn fill_system_fields_for_update(new: &mut ObjectMeta, old: &ObjectMeta) {
    if new.uid.as_deref().is_none_or(str::is_empty) {
        new.uid.clone_from(&old.uid);
    }
    if old.creation_timestamp.is_some() {
        new.creation_timestamp.clone_from(&old.creation_timestamp);
    }
    if old.deletion_timestamp.is_some() {
        new.deletion_timestamp.clone_from(&old.deletion_timestamp);
    }
    if new.deletion_grace_period_seconds.is_none() {
        new.deletion_grace_period_seconds = old.deletion_grace_period_seconds;
    }
}
