//! core/v1 Events about pods, as upstream components record them (what `kubectl describe
//! pod` shows under Events). Recording is best effort: a failed write is logged, never fatal.

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::Client;

use crate::writes;

/// The pod an event is about.
#[derive(Debug, Clone)]
pub(crate) struct PodRef {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

/// Records one event (type `Normal` or `Warning`) about a pod.
pub(crate) async fn record(
    client: &Client,
    component: &str,
    pod: &PodRef,
    type_: &str,
    reason: &str,
    message: &str,
) {
    let now = Timestamp::now();
    // Names like client-go's: the object's name and a unique hex suffix.
    let name = format!("{}.{:x}", pod.name, now.as_nanosecond());
    let event = Event {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(pod.namespace.clone()),
            ..ObjectMeta::default()
        },
        involved_object: ObjectReference {
            api_version: Some("v1".to_owned()),
            kind: Some("Pod".to_owned()),
            name: Some(pod.name.clone()),
            namespace: Some(pod.namespace.clone()),
            uid: Some(pod.uid.clone()),
            ..ObjectReference::default()
        },
        reason: Some(reason.to_owned()),
        message: Some(message.to_owned()),
        type_: Some(type_.to_owned()),
        source: Some(EventSource {
            component: Some(component.to_owned()),
            host: None,
        }),
        reporting_component: Some(component.to_owned()),
        reporting_instance: Some(component.to_owned()),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        count: Some(1),
        ..Event::default()
    };
    if let Err(err) = writes::create(client, Some(&pod.namespace), &event).await {
        tracing::debug!(%err, reason, "could not record event");
    }
}
