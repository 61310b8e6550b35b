//! `describe daemonset` and the pod-template printer it shares with `rollout history
//! --revision`, laid out as kubectl's describers lay them out (spec 6.6).
//!
//! Text is built with `\t` between a label and its value and aligned at the end by
//! [`tabwrite`], exactly as kubectl's describers write through one tabwriter.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use everynode_model::Timestamp;
use everynode_model::pod::controller_ref;
use everynode_model::selector::label_selector_to_string;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, Event, Pod, PodTemplateSpec, Toleration, Volume,
};

use crate::output::{DESCRIBE_TABS, age, tabwrite};

/// Annotation values longer than this (key included) are printed on their own lines.
const MAX_ANNOTATION_LEN: usize = 140;

/// Annotations kubectl leaves out of `describe`.
const HIDDEN_ANNOTATIONS: &[&str] = &[everynode_model::wellknown::LAST_APPLIED_ANNOTATION];

/// Renders `describe daemonset`: the DaemonSet, the phases of the pods it controls and the
/// events about it, measured against `now`.
///
/// `pods` may hold any pods of the namespace: only those matching the selector and controlled
/// by this DaemonSet are counted. `events` likewise: only those whose involved object is this
/// DaemonSet are listed.
pub fn describe_daemonset(
    ds: &DaemonSet,
    pods: &[Pod],
    events: &[Event],
    now: Timestamp,
) -> String {
    let mut w = String::new();
    let meta = &ds.metadata;
    let status = ds.status.clone().unwrap_or_default();
    let _ = writeln!(w, "Name:\t{}", meta.name.as_deref().unwrap_or(""));
    let _ = writeln!(w, "Namespace:\t{}", meta.namespace.as_deref().unwrap_or(""));
    let _ = writeln!(
        w,
        "Selector:\t{}",
        label_selector_to_string(&ds.spec.selector)
    );
    let _ = writeln!(
        w,
        "Node-Selector:\t{}",
        format_labels(
            ds.spec
                .template
                .spec
                .as_ref()
                .and_then(|s| s.node_selector.as_ref())
        )
    );
    labels_multiline(&mut w, "", "Labels", meta.labels.as_ref());
    annotations_multiline(&mut w, "", "Annotations", meta.annotations.as_ref());
    let _ = writeln!(
        w,
        "Desired Number of Nodes Scheduled: {}",
        status.desired_number_scheduled
    );
    let _ = writeln!(
        w,
        "Current Number of Nodes Scheduled: {}",
        status.current_number_scheduled
    );
    let _ = writeln!(
        w,
        "Number of Nodes Scheduled with Up-to-date Pods: {}",
        status.updated_number_scheduled.unwrap_or(0)
    );
    let _ = writeln!(
        w,
        "Number of Nodes Scheduled with Available Pods: {}",
        status.number_available.unwrap_or(0)
    );
    let _ = writeln!(
        w,
        "Number of Nodes Misscheduled: {}",
        status.number_misscheduled
    );
    let (running, waiting, succeeded, failed) = pod_phase_counts(ds, pods);
    let _ = writeln!(
        w,
        "Pods Status:\t{running} Running / {waiting} Waiting / {succeeded} Succeeded / {failed} Failed"
    );
    write_pod_template(&mut w, &ds.spec.template);
    let uid = meta.uid.as_deref();
    let mine: Vec<&Event> = events
        .iter()
        .filter(|e| {
            let io = &e.involved_object;
            io.kind.as_deref() == Some("DaemonSet")
                && io.name == meta.name
                && (io.uid.is_none() || uid.is_none() || io.uid.as_deref() == uid)
        })
        .collect();
    write_events(&mut w, &mine, now);
    tabwrite(&w, DESCRIBE_TABS)
}

/// Counts the DaemonSet's pods by phase: (Running, Waiting (Pending), Succeeded, Failed).
fn pod_phase_counts(ds: &DaemonSet, pods: &[Pod]) -> (usize, usize, usize, usize) {
    let selector =
        everynode_model::selector::Selector::from_label_selector(Some(&ds.spec.selector)).ok();
    let uid = ds.metadata.uid.as_deref();
    let mut counts = (0, 0, 0, 0);
    for pod in pods {
        let controlled = controller_ref(&pod.metadata).is_some_and(|r| Some(r.uid.as_str()) == uid);
        let empty = BTreeMap::new();
        let labels = pod.metadata.labels.as_ref().unwrap_or(&empty);
        let matches = selector.as_ref().is_some_and(|s| s.matches(labels));
        if !controlled || !matches {
            continue;
        }
        match pod.status.as_ref().and_then(|s| s.phase.as_deref()) {
            Some("Running") => counts.0 += 1,
            Some("Pending") | None => counts.1 += 1,
            Some("Succeeded") => counts.2 += 1,
            Some("Failed") => counts.3 += 1,
            Some(_) => {}
        }
    }
    counts
}

/// Renders the `Pod Template:` section alone, as `rollout history --revision` prints it:
/// kubectl writes that one straight out without a tabwriter, so a `\t` separates each label
/// from its value (spec 6.2).
pub fn describe_pod_template(template: &PodTemplateSpec) -> String {
    let mut w = String::new();
    write_pod_template(&mut w, template);
    w
}

fn write_pod_template(w: &mut String, template: &PodTemplateSpec) {
    w.push_str("Pod Template:\n");
    let meta = template.metadata.clone().unwrap_or_default();
    // kubectl puts the indent in the title, so continuation lines start at the tab.
    labels_multiline(w, "", "  Labels", meta.labels.as_ref());
    if meta.annotations.as_ref().is_some_and(|a| !a.is_empty()) {
        annotations_multiline(w, "", "  Annotations", meta.annotations.as_ref());
    }
    let spec = template.spec.clone().unwrap_or_default();
    if let Some(sa) = spec
        .service_account_name
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        let _ = writeln!(w, "  Service Account:\t{sa}");
    }
    if let Some(init) = spec.init_containers.as_ref().filter(|c| !c.is_empty()) {
        write_containers(w, "Init Containers", init);
    }
    write_containers(w, "Containers", &spec.containers);
    write_volumes(w, spec.volumes.as_deref().unwrap_or_default());
    if let Some(pc) = spec
        .priority_class_name
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        let _ = writeln!(w, "  Priority Class Name:\t{pc}");
    }
    labels_multiline(w, "", "  Node-Selectors", spec.node_selector.as_ref());
    tolerations_multiline(
        w,
        "",
        "  Tolerations",
        spec.tolerations.as_deref().unwrap_or_default(),
    );
}

fn write_containers(w: &mut String, title: &str, containers: &[Container]) {
    if containers.is_empty() {
        let _ = writeln!(w, "  {title}: <none>");
        return;
    }
    let _ = writeln!(w, "  {title}:");
    for c in containers {
        let _ = writeln!(w, "   {}:", c.name);
        let _ = writeln!(w, "    Image:\t{}", c.image.as_deref().unwrap_or(""));
        let ports = c.ports.as_deref().unwrap_or_default();
        let port_list = format_ports(ports, |p| Some(p.container_port));
        // Upstream lists every port here, an unset host port as 0.
        let host_list = format_ports(ports, |p| Some(p.host_port.unwrap_or(0)));
        let label = if port_list.contains(',') {
            "Ports"
        } else {
            "Port"
        };
        let _ = writeln!(w, "    {label}:\t{port_list}");
        let label = if host_list.contains(',') {
            "Host Ports"
        } else {
            "Host Port"
        };
        let _ = writeln!(w, "    {label}:\t{host_list}");
        if let Some(cmd) = c.command.as_ref().filter(|v| !v.is_empty()) {
            w.push_str("    Command:\n");
            for part in cmd {
                let _ = writeln!(w, "      {part}");
            }
        }
        if let Some(args) = c.args.as_ref().filter(|v| !v.is_empty()) {
            w.push_str("    Args:\n");
            for part in args {
                let _ = writeln!(w, "      {part}");
            }
        }
        if let Some(res) = &c.resources {
            for (title, list) in [("Limits", &res.limits), ("Requests", &res.requests)] {
                if let Some(list) = list.as_ref().filter(|l| !l.is_empty()) {
                    let _ = writeln!(w, "    {title}:");
                    for (name, q) in list {
                        let _ = writeln!(w, "      {name}:\t{}", q.0);
                    }
                }
            }
        }
        write_env(w, c.env.as_deref().unwrap_or_default());
        let mounts = c.volume_mounts.as_deref().unwrap_or_default();
        if mounts.is_empty() {
            w.push_str("    Mounts:\t<none>\n");
        } else {
            w.push_str("    Mounts:\n");
            // kubectl lists mounts by mount path.
            let mut mounts: Vec<_> = mounts.iter().collect();
            mounts.sort_by(|a, b| a.mount_path.cmp(&b.mount_path));
            for m in mounts {
                let mode = if m.read_only == Some(true) {
                    "ro"
                } else {
                    "rw"
                };
                let _ = writeln!(w, "      {} from {} ({mode})", m.mount_path, m.name);
            }
        }
    }
}

/// `9100/TCP,2020/TCP`, or `<none>`; ports without the selected number are skipped.
fn format_ports(ports: &[ContainerPort], number: impl Fn(&ContainerPort) -> Option<i32>) -> String {
    let parts: Vec<String> = ports
        .iter()
        .filter_map(|p| {
            number(p).map(|n| format!("{n}/{}", p.protocol.as_deref().unwrap_or("TCP")))
        })
        .collect();
    if parts.is_empty() {
        "<none>".to_owned()
    } else {
        parts.join(", ")
    }
}

fn write_env(w: &mut String, env: &[EnvVar]) {
    if env.is_empty() {
        w.push_str("    Environment:\t<none>\n");
        return;
    }
    w.push_str("    Environment:\n");
    for e in env {
        match &e.value_from {
            None => {
                let _ = writeln!(w, "      {}:\t{}", e.name, e.value.as_deref().unwrap_or(""));
            }
            Some(from) => {
                if let Some(f) = &from.field_ref {
                    let _ = writeln!(
                        w,
                        "      {}:\t ({}:{})",
                        e.name,
                        f.api_version.as_deref().unwrap_or("v1"),
                        f.field_path
                    );
                } else if let Some(r) = &from.resource_field_ref {
                    let _ = writeln!(w, "      {}:\t{} ({})", e.name, r.resource, e.name);
                } else if let Some(s) = &from.secret_key_ref {
                    let _ = writeln!(
                        w,
                        "      {}:\t<set to the key '{}' in secret '{}'>\tOptional: {}",
                        e.name,
                        s.key,
                        s.name,
                        s.optional.unwrap_or(false)
                    );
                } else if let Some(c) = &from.config_map_key_ref {
                    let _ = writeln!(
                        w,
                        "      {}:\t<set to the key '{}' of config map '{}'>\tOptional: {}",
                        e.name,
                        c.key,
                        c.name,
                        c.optional.unwrap_or(false)
                    );
                } else {
                    let _ = writeln!(w, "      {}:\t", e.name);
                }
            }
        }
    }
}

fn write_volumes(w: &mut String, volumes: &[Volume]) {
    if volumes.is_empty() {
        w.push_str("  Volumes:\t<none>\n");
        return;
    }
    w.push_str("  Volumes:\n");
    for v in volumes {
        let _ = writeln!(w, "   {}:", v.name);
        if let Some(hp) = &v.host_path {
            w.push_str("    Type:\tHostPath (bare host directory volume)\n");
            let _ = writeln!(w, "    Path:\t{}", hp.path);
            let _ = writeln!(
                w,
                "    HostPathType:\t{}",
                hp.type_.as_deref().unwrap_or("")
            );
        } else if let Some(ed) = &v.empty_dir {
            w.push_str(
                "    Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)\n",
            );
            let _ = writeln!(w, "    Medium:\t{}", ed.medium.as_deref().unwrap_or(""));
            let limit = ed
                .size_limit
                .as_ref()
                .map(|q| q.0.as_str())
                .unwrap_or("<unset>");
            let _ = writeln!(w, "    SizeLimit:\t{limit}");
        } else if let Some(cm) = &v.config_map {
            w.push_str("    Type:\tConfigMap (a volume populated by a ConfigMap)\n");
            let _ = writeln!(w, "    Name:\t{}", cm.name);
            let _ = writeln!(w, "    Optional:\t{}", cm.optional.unwrap_or(false));
        } else if let Some(s) = &v.secret {
            w.push_str("    Type:\tSecret (a volume populated by a Secret)\n");
            let _ = writeln!(
                w,
                "    SecretName:\t{}",
                s.secret_name.as_deref().unwrap_or("")
            );
            let _ = writeln!(w, "    Optional:\t{}", s.optional.unwrap_or(false));
        } else {
            w.push_str("    <unknown>\n");
        }
    }
}

/// `k=v,k2=v2` in key order, `<none>` when empty (Go's `labels.FormatLabels`).
pub fn format_labels(labels: Option<&BTreeMap<String, String>>) -> String {
    match labels {
        Some(l) if !l.is_empty() => l
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(","),
        _ => "<none>".to_owned(),
    }
}

fn labels_multiline(
    w: &mut String,
    indent: &str,
    title: &str,
    labels: Option<&BTreeMap<String, String>>,
) {
    let _ = write!(w, "{indent}{title}:\t");
    match labels {
        Some(l) if !l.is_empty() => {
            for (i, (k, v)) in l.iter().enumerate() {
                if i > 0 {
                    let _ = write!(w, "{indent}\t");
                }
                let _ = writeln!(w, "{k}={v}");
            }
        }
        _ => w.push_str("<none>\n"),
    }
}

fn annotations_multiline(
    w: &mut String,
    indent: &str,
    title: &str,
    annotations: Option<&BTreeMap<String, String>>,
) {
    let _ = write!(w, "{indent}{title}:\t");
    let shown: Vec<(&String, &String)> = annotations
        .into_iter()
        .flatten()
        .filter(|(k, _)| !HIDDEN_ANNOTATIONS.contains(&k.as_str()))
        .collect();
    if shown.is_empty() {
        w.push_str("<none>\n");
        return;
    }
    for (i, (k, v)) in shown.into_iter().enumerate() {
        if i > 0 {
            let _ = write!(w, "{indent}\t");
        }
        let value = v.trim_end_matches('\n');
        if value.chars().count() + k.chars().count() + 2 > MAX_ANNOTATION_LEN
            || value.contains('\n')
        {
            let _ = writeln!(w, "{k}:");
            for part in value.split('\n') {
                let _ = writeln!(w, "{indent}\t  {}", shorten(part, MAX_ANNOTATION_LEN - 2));
            }
        } else {
            let _ = writeln!(w, "{k}: {value}");
        }
    }
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() > max {
        let kept: String = s.chars().take(max).collect();
        format!("{kept}...")
    } else {
        s.to_owned()
    }
}

fn tolerations_multiline(w: &mut String, indent: &str, title: &str, tolerations: &[Toleration]) {
    let _ = write!(w, "{indent}{title}:\t");
    if tolerations.is_empty() {
        w.push_str("<none>\n");
        return;
    }
    for (i, t) in tolerations.iter().enumerate() {
        if i > 0 {
            let _ = write!(w, "{indent}\t");
        }
        let key = t.key.as_deref().unwrap_or("");
        let value = t.value.as_deref().unwrap_or("");
        let effect = t.effect.as_deref().unwrap_or("");
        w.push_str(key);
        if !value.is_empty() {
            let _ = write!(w, "={value}");
        }
        if !effect.is_empty() {
            let _ = write!(w, ":{effect}");
        }
        if t.operator.as_deref() == Some("Exists") && value.is_empty() {
            if !key.is_empty() || !effect.is_empty() {
                w.push_str(" op=Exists");
            } else {
                w.push_str("op=Exists");
            }
        }
        if let Some(secs) = t.toleration_seconds {
            let _ = write!(w, " for {secs}s");
        }
        w.push('\n');
    }
}

fn write_events(w: &mut String, events: &[&Event], now: Timestamp) {
    if events.is_empty() {
        w.push_str("Events:\t<none>\n");
        return;
    }
    let mut sorted: Vec<&Event> = events.to_vec();
    // kubectl sorts by lastTimestamp (oldest first); events without one go first.
    sorted.sort_by_key(|e| e.last_timestamp.as_ref().map(|t| t.0));
    w.push_str("Events:\n  Type\tReason\tAge\tFrom\tMessage\n");
    w.push_str("  ----\t------\t----\t----\t-------\n");
    for e in sorted {
        let first = match (&e.event_time, &e.first_timestamp) {
            (Some(t), _) => human_since(t.0, now),
            (None, first) => age(first.as_ref(), now),
        };
        let count = e.count.unwrap_or(0);
        let interval = if let Some(series) = &e.series {
            let last = series
                .last_observed_time
                .as_ref()
                .map(|t| human_since(t.0, now))
                .unwrap_or_else(|| "<unknown>".to_owned());
            format!("{last} (x{} over {first})", series.count.unwrap_or(0))
        } else if count > 1 {
            format!(
                "{} (x{count} over {first})",
                age(e.last_timestamp.as_ref(), now)
            )
        } else {
            first
        };
        let source = e
            .source
            .as_ref()
            .and_then(|s| s.component.clone())
            .filter(|s| !s.is_empty())
            .or_else(|| e.reporting_component.clone())
            .unwrap_or_default();
        let _ = writeln!(
            w,
            "  {}\t{}\t{interval}\t{source}\t{}",
            e.type_.as_deref().unwrap_or(""),
            e.reason.as_deref().unwrap_or(""),
            e.message.as_deref().unwrap_or("").trim()
        );
    }
}

fn human_since(t: Timestamp, now: Timestamp) -> String {
    crate::output::human_duration(now.duration_since(t))
}
