//! Label, annotation, finalizer and taint keys that are part of Kubernetes' interface.

/// Label on daemon pods and ControllerRevisions naming the revision's hash.
pub const CONTROLLER_REVISION_HASH_LABEL: &str = "controller-revision-hash";
/// Label on daemon pods carrying the DaemonSet's templateGeneration at creation.
pub const POD_TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";
/// Annotation through which apps/v1 exposes the internal `spec.templateGeneration`.
pub const TEMPLATE_GENERATION_ANNOTATION: &str = "deprecated.daemonset.template.generation";
/// Annotation that `kubectl rollout history` shows as CHANGE-CAUSE.
pub const CHANGE_CAUSE_ANNOTATION: &str = "kubernetes.io/change-cause";
/// Annotation kubectl client-side apply keeps the last applied manifest in.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// Template annotation `kubectl rollout restart` sets.
pub const RESTARTED_AT_ANNOTATION: &str = "kubectl.kubernetes.io/restartedAt";

/// Finalizer that keeps an owner until its dependents are deleted (foreground deletion).
pub const FOREGROUND_DELETION_FINALIZER: &str = "foregroundDeletion";
/// Finalizer that keeps an owner until its dependents' ownerReferences are removed.
pub const ORPHAN_FINALIZER: &str = "orphan";

/// Taint keys the node lifecycle controller and the DaemonSet controller know about.
pub mod taint_keys {
    /// Node Ready condition is False.
    pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
    /// Node Ready condition is Unknown (heartbeats stopped).
    pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
    /// Node has DiskPressure=True.
    pub const DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
    /// Node has MemoryPressure=True.
    pub const MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
    /// Node has PIDPressure=True.
    pub const PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";
    /// Node is cordoned (`spec.unschedulable`).
    pub const UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
    /// Node has NetworkUnavailable=True.
    pub const NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";
    /// Control-plane nodes carry this with effect NoSchedule.
    pub const CONTROL_PLANE: &str = "node-role.kubernetes.io/control-plane";
    /// Legacy name of the control-plane taint.
    pub const MASTER: &str = "node-role.kubernetes.io/master";
}
