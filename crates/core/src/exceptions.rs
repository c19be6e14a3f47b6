//! The exceptions dfship raises in Python, in one table.
//!
//! Each [`Exception`] is a class of `dfship.exceptions` (the Python module
//! defines the classes, so that they can also derive from built-ins and
//! pickle by reference; a test holds the two lists equal). Errors name their
//! exception here ([`crate::codec::error::CodecErrorKind::exception`]); the
//! bindings look the class up by [`Exception::name`].
//!
//! An error crosses from a worker to the coordinator as text. A refusal that
//! should surface as a specific exception starts with its tag,
//! `[dfship:<Name>]` ([`Exception::tagged`]), and the coordinator finds it
//! again with [`Exception::find_tag`]; only classes marked [`Exception::taggable`]
//! are recognised, so text a query produced cannot name any other class.

use std::fmt;

/// What starts a tag inside an error's text.
pub const TAG_PREFIX: &str = "[dfship:";

macro_rules! exceptions {
    ($($variant:ident => $name:literal, taggable: $taggable:literal;)*) => {
        /// A class of `dfship.exceptions`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Exception {
            $($variant,)*
        }

        impl Exception {
            /// Every class, in the order of the table.
            pub const ALL: &[Exception] = &[$(Exception::$variant,)*];

            /// The class's name in `dfship.exceptions`.
            pub fn name(self) -> &'static str {
                match self {
                    $(Exception::$variant => $name,)*
                }
            }

            /// Whether a worker's tag may name this class.
            pub fn taggable(self) -> bool {
                match self {
                    $(Exception::$variant => $taggable,)*
                }
            }
        }
    };
}

exceptions! {
    Dfship => "DfshipError", taggable: false;
    Plan => "PlanError", taggable: false;
    TableNotFound => "TableNotFoundError", taggable: false;
    UnknownFunction => "UnknownFunctionError", taggable: true;
    Execution => "ExecutionError", taggable: true;
    Udf => "UdfError", taggable: false;
    Internal => "InternalError", taggable: false;
    Payload => "PayloadError", taggable: false;
    CorruptPayload => "CorruptPayloadError", taggable: true;
    UnsupportedFormat => "UnsupportedFormatError", taggable: true;
    Signature => "SignatureError", taggable: true;
    PayloadTooLarge => "PayloadTooLargeError", taggable: true;
    PythonVersionMismatch => "PythonVersionMismatchError", taggable: true;
    InliningDisabled => "InliningDisabledError", taggable: true;
    ExpressionTooDeep => "ExpressionTooDeepError", taggable: true;
    Serialization => "SerializationError", taggable: true;
    WorkerUnavailable => "WorkerUnavailableError", taggable: true;
    WorkerAuth => "WorkerAuthError", taggable: true;
    WorkerBusy => "WorkerBusyError", taggable: true;
    WorkerPolicy => "WorkerPolicyError", taggable: true;
    ResourcesExhausted => "ResourcesExhaustedError", taggable: true;
    QueryTimeout => "QueryTimeoutError", taggable: true;
    ObjectStore => "ObjectStoreError", taggable: true;
    ObjectStoreNotConfigured => "ObjectStoreNotConfiguredError", taggable: true;
    ObjectStoreAuth => "ObjectStoreAuthError", taggable: true;
    ObjectStoreNotFound => "ObjectStoreNotFoundError", taggable: true;
    ObjectStoreUnavailable => "ObjectStoreUnavailableError", taggable: true;
}

impl Exception {
    /// The class named `name`, if dfship has one.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|e| e.name() == name)
    }

    /// `[dfship:<Name>] message`: a refusal that the coordinator raises as
    /// this class.
    pub fn tagged(self, message: impl fmt::Display) -> String {
        format!("{TAG_PREFIX}{}] {message}", self.name())
    }

    /// The taggable class named by the first tag in `message`, if any.
    pub fn find_tag(message: &str) -> Option<Self> {
        let start = message.find(TAG_PREFIX)? + TAG_PREFIX.len();
        let name = &message[start..start + message[start..].find(']')?];
        Self::from_name(name).filter(|e| e.taggable())
    }
}

impl fmt::Display for Exception {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        for e in Exception::ALL {
            assert_eq!(Exception::from_name(e.name()), Some(*e));
        }
        let mut names: Vec<_> = Exception::ALL.iter().map(|e| e.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Exception::ALL.len());
    }

    #[test]
    fn tags_round_trip_for_taggable_classes_only() {
        for e in Exception::ALL {
            let text = format!("Execution error: {}", e.tagged("no"));
            assert_eq!(Exception::find_tag(&text), e.taggable().then_some(*e), "{text}");
        }
        assert_eq!(Exception::find_tag("[dfship:NoSuchError] x"), None);
        assert_eq!(Exception::find_tag("[dfship:WorkerAuthError"), None);
        assert_eq!(Exception::find_tag("plain text"), None);
    }
}
