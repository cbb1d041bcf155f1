use super::*;
use crate::create::CreateSessionRequest;

fn t(ms: i64) -> Timestamp {
    Timestamp::from_unix_ms(1_700_000_000_000 + ms).unwrap()
}

fn tenant() -> Tenant {
    Tenant {
        org_id: OrgId::generate(),
        environment: Environment::Live,
    }
}

fn new_session() -> Session {
    Session::create(
        &tenant(),
        CreateSessionRequest::default().validate().unwrap(),
        t(0),
    )
}

fn started() -> (Session, Attempt) {
    let mut s = new_session();
    let (a, _) = s.start_attempt(t(1)).unwrap();
    (s, a)
}

/// An attempt whose document was accepted: it waits for the liveness step.
fn at_liveness() -> (Session, Attempt) {
    let (mut s, mut a) = started();
    s.advance(&mut a, AttemptPhase::Document, t(1)).unwrap();
    (s, a)
}

/// An attempt whose checks all passed: it waits for consent.
fn at_consent() -> (Session, Attempt) {
    let (mut s, mut a) = at_liveness();
    s.advance(&mut a, AttemptPhase::Liveness, t(1)).unwrap();
    (s, a)
}

#[test]
fn a_new_session_is_created_with_zero_tries_and_no_failure() {
    let s = new_session();
    assert_eq!(s.status, SessionStatus::Created);
    assert_eq!((s.nfc_tries_used, s.liveness_tries_used), (0, 0));
    assert_eq!(s.failure_code, None);
    assert_eq!(s.completed_at, None);
    assert_eq!(s.contract_version, 1);
    assert_eq!(s.expires_at, t(3_600_000));
    assert_eq!(s.cancel_token.expose().len(), CANCEL_TOKEN_LEN);
}

#[test]
fn cancel_moves_an_open_session_to_cancelled_with_an_event() {
    let mut s = new_session();
    let events = s.cancel(t(5)).unwrap();
    assert_eq!(s.status, SessionStatus::Cancelled);
    assert_eq!(s.completed_at, Some(t(5)));
    assert_eq!(s.updated_at, t(5));
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, EventType::SessionCancelled);
    assert_eq!(events[0].session_id, s.id);
    assert_eq!(events[0].created_at, t(5));
}

#[test]
fn cancel_of_a_terminal_session_changes_nothing_and_emits_nothing() {
    let mut s = new_session();
    s.cancel(t(5)).unwrap();
    let before = s.clone();
    assert_eq!(
        s.cancel(t(9)),
        Err(TransitionError::Terminal(SessionStatus::Cancelled))
    );
    assert_eq!(s, before);
}

#[test]
fn cancel_of_an_overdue_session_expires_it_instead() {
    let mut s = new_session();
    let events = s.cancel(t(3_600_000)).unwrap();
    assert_eq!(s.status, SessionStatus::Expired);
    assert_eq!(events[0].event_type, EventType::SessionExpired);
}

#[test]
fn expire_requires_overdue_and_non_terminal() {
    let mut s = new_session();
    assert_eq!(s.expire(t(3_599_999)), Err(TransitionError::NotOverdue));
    assert!(s.is_overdue(t(3_600_000)));
    let events = s.expire(t(3_600_001)).unwrap();
    assert_eq!(s.status, SessionStatus::Expired);
    assert_eq!(s.completed_at, Some(t(3_600_001)));
    assert_eq!(events[0].event_type, EventType::SessionExpired);
    assert_eq!(
        s.expire(t(3_700_000)),
        Err(TransitionError::Terminal(SessionStatus::Expired))
    );
    assert!(!s.is_overdue(t(9_999_999)));
}

#[test]
fn starting_an_attempt_moves_created_to_in_progress_once() {
    let mut s = new_session();
    let (a, events) = s.start_attempt(t(1)).unwrap();
    assert_eq!(s.status, SessionStatus::InProgress);
    assert_eq!(a.status, AttemptStatus::InProgress);
    assert_eq!(a.session_id, s.id);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, EventType::SessionInProgress);
    assert_eq!(events[0].attempt_id.as_ref(), Some(&a.id));
    let (_, again) = s.start_attempt(t(2)).unwrap();
    assert!(again.is_empty());
}

#[test]
fn attempts_cannot_start_on_terminal_or_overdue_sessions() {
    let mut s = new_session();
    assert_eq!(
        s.start_attempt(t(3_600_000)).unwrap_err(),
        TransitionError::Overdue
    );
    s.cancel(t(1)).unwrap();
    assert_eq!(
        s.start_attempt(t(2)).unwrap_err(),
        TransitionError::Terminal(SessionStatus::Cancelled)
    );
    assert_eq!(
        TransitionError::Terminal(SessionStatus::Cancelled)
            .to_error()
            .code,
        ErrorCode::SessionCancelled
    );
}

#[test]
fn failures_count_per_kind_and_the_third_fails_the_session() {
    let (mut s, mut a) = started();
    let e1 = s
        .record_failure(&mut a, FailureCode::DocumentAuthenticityFailed, t(2))
        .unwrap();
    assert_eq!(e1.len(), 1);
    assert_eq!(e1[0].event_type, EventType::AttemptFailed);
    assert_eq!(e1[0].data["nfc_tries_used"], 1);
    s.record_failure(&mut a, FailureCode::DocumentDataInvalid, t(4))
        .unwrap();
    assert_eq!((s.nfc_tries_used, s.liveness_tries_used), (2, 0));
    assert_eq!(s.status, SessionStatus::InProgress);
    assert_eq!(s.failure_code, None);
    assert_eq!(a.status, AttemptStatus::InProgress);
    let last = s
        .record_failure(&mut a, FailureCode::DocumentChipAuthenticationFailed, t(5))
        .unwrap();
    assert_eq!(s.status, SessionStatus::Failed);
    assert_eq!(
        s.failure_code,
        Some(FailureCode::DocumentChipAuthenticationFailed)
    );
    assert_eq!(s.completed_at, Some(t(5)));
    assert_eq!(s.nfc_tries_used, 3);
    assert_eq!(a.status, AttemptStatus::Failed);
    assert_eq!(
        a.failure_code,
        Some(FailureCode::DocumentChipAuthenticationFailed)
    );
    assert_eq!(
        last.iter().map(|e| e.event_type).collect::<Vec<_>>(),
        [EventType::AttemptFailed, EventType::SessionFailed]
    );
}

#[test]
fn three_liveness_failures_fail_with_the_last_code() {
    let (mut s, mut a) = at_liveness();
    s.record_failure(&mut a, FailureCode::LivenessFailed, t(2))
        .unwrap();
    s.record_failure(&mut a, FailureCode::LivenessFailed, t(3))
        .unwrap();
    s.record_failure(&mut a, FailureCode::SelfieFaceMismatch, t(4))
        .unwrap();
    assert_eq!(s.status, SessionStatus::Failed);
    assert_eq!(s.failure_code, Some(FailureCode::SelfieFaceMismatch));
    assert_eq!(s.liveness_tries_used, 3);
}

#[test]
fn success_completes_session_and_attempt_with_keys_only() {
    let (mut s, mut a) = at_consent();
    let keys = vec!["kayle_document_id".to_owned()];
    let events = s.succeed(&mut a, &keys, t(9)).unwrap();
    assert_eq!(s.status, SessionStatus::Succeeded);
    assert_eq!(s.failure_code, None);
    assert_eq!(s.completed_at, Some(t(9)));
    assert_eq!(a.status, AttemptStatus::Succeeded);
    assert_eq!(a.completed_at, Some(t(9)));
    assert_eq!(events[0].event_type, EventType::SessionSucceeded);
    assert_eq!(
        events[0].data["selected_field_keys"],
        serde_json::json!(["kayle_document_id"])
    );
}

#[test]
fn completion_after_cancel_is_refused() {
    let (mut s, mut a) = started();
    s.cancel(t(2)).unwrap();
    assert_eq!(
        s.succeed(&mut a, &[], t(3)),
        Err(TransitionError::Terminal(SessionStatus::Cancelled))
    );
    assert_eq!(s.status, SessionStatus::Cancelled);
}

#[test]
fn steps_on_a_foreign_or_closed_attempt_are_refused() {
    let (mut s, mut a) = started();
    let (mut other, _) = new_session().start_attempt(t(1)).unwrap();
    assert_eq!(
        s.succeed(&mut other, &[], t(2)),
        Err(TransitionError::AttemptMismatch)
    );
    assert!(a.close_cancelled(t(2)));
    assert!(!a.close_cancelled(t(3)));
    assert_eq!(a.status, AttemptStatus::Cancelled);
    assert_eq!(
        s.record_failure(&mut a, FailureCode::LivenessFailed, t(3)),
        Err(TransitionError::AttemptNotOpen)
    );
    let mut fresh = new_session();
    assert_eq!(
        fresh.succeed(&mut a, &[], t(3)),
        Err(TransitionError::NotInProgress)
    );
}

#[test]
fn completed_at_is_set_exactly_when_terminal_and_failure_code_exactly_when_failed() {
    let check = |s: &Session| {
        assert_eq!(
            s.completed_at.is_some(),
            s.status.is_terminal(),
            "{}",
            s.status
        );
        assert_eq!(
            s.failure_code.is_some(),
            s.status == SessionStatus::Failed,
            "{}",
            s.status
        );
    };
    let mut s = new_session();
    check(&s);
    let (mut a, _) = s.start_attempt(t(1)).unwrap();
    check(&s);
    s.record_failure(&mut a, FailureCode::DocumentDataInvalid, t(2))
        .unwrap();
    check(&s);
    s.cancel(t(3)).unwrap();
    check(&s);
    let mut e = new_session();
    e.expire(t(4_000_000)).unwrap();
    check(&e);
}

#[test]
fn failure_codes_map_to_their_tries_counter() {
    assert_eq!(FailureCode::LivenessFailed.kind(), TryKind::Liveness);
    assert_eq!(FailureCode::SelfieFaceMismatch.kind(), TryKind::Liveness);
    for code in FailureCode::ALL.iter().filter(|c| {
        !matches!(
            c,
            FailureCode::LivenessFailed | FailureCode::SelfieFaceMismatch
        )
    }) {
        assert_eq!(code.kind(), TryKind::Nfc, "{code}");
    }
    assert_eq!(FailureCode::ALL.len(), 7);
}

#[test]
fn statuses_parse_and_know_terminality() {
    for s in SessionStatus::ALL {
        assert_eq!(SessionStatus::parse(s.as_str()), Some(*s));
    }
    assert!(!SessionStatus::Created.is_terminal());
    assert!(!SessionStatus::InProgress.is_terminal());
    assert!(SessionStatus::Succeeded.is_terminal() && SessionStatus::Failed.is_terminal());
    assert!(SessionStatus::Expired.is_terminal() && SessionStatus::Cancelled.is_terminal());
    assert_eq!(
        SessionStatus::parse_param("completed").unwrap_err().message,
        "Invalid `status`: must be one of created, in_progress, succeeded, failed, expired, cancelled."
    );
}

#[test]
fn filter_parses_query_values_and_names_bad_ones() {
    let f = SessionFilter::from_query(
        Some("expired"),
        Some("2025-01-01T00:00:00Z"),
        Some("2025-01-02T00:00:00+01:00"),
    )
    .unwrap();
    assert_eq!(f.status, Some(SessionStatus::Expired));
    assert_eq!(f.created_from.unwrap().unix_ms(), 1_735_689_600_000);
    let e = SessionFilter::from_query(None, Some("2025-01-01"), None).unwrap_err();
    assert!(e.message.starts_with("Invalid `created_from`"));
    let e = SessionFilter::from_query(None, None, Some("x")).unwrap_err();
    assert!(e.message.starts_with("Invalid `created_to`"));
}

#[test]
fn api_view_has_the_seed_fields_in_order_and_hides_the_token_unless_asked() {
    let s = new_session();
    let v =
        serde_json::to_value(s.api_view("https://idgate.example/verify/x".into(), false)).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    for k in [
        "id",
        "status",
        "failure_code",
        "nfc_tries_used",
        "liveness_tries_used",
        "contract_version",
        "share_fields",
        "redirect_url",
        "webhook_endpoint_id",
        "verification_url",
        "expires_at",
        "completed_at",
        "created_at",
        "updated_at",
        "metadata",
    ] {
        assert!(keys.contains(&k), "{k}");
    }
    assert!(!keys.contains(&"cancel_token"));
    assert_eq!(v["created_at"], "2023-11-14T22:13:20.000Z");
    let with = serde_json::to_string(&s.api_view(String::new(), true)).unwrap();
    assert!(with.contains(s.cancel_token.expose()));
    let text = serde_json::to_string(&s.api_view(String::new(), false)).unwrap();
    assert!(text.find("\"id\"").unwrap() < text.find("\"status\"").unwrap());
    assert!(text.find("\"created_at\"").unwrap() < text.find("\"updated_at\"").unwrap());
}

#[test]
fn organization_names_are_validated() {
    assert_eq!(Organization::new("  Acme ", t(0)).unwrap().name, "Acme");
    assert!(Organization::new("", t(0)).is_err());
}

#[test]
fn a_handoff_leaves_the_session_created_until_a_device_binds_it() {
    let mut s = new_session();
    let mut a = s.hand_off(t(1)).unwrap();
    assert_eq!(s.status, SessionStatus::Created);
    assert_eq!(a.phase, AttemptPhase::Handoff);
    let events = s.bind(&mut a, t(2)).unwrap();
    assert_eq!(s.status, SessionStatus::InProgress);
    assert_eq!(a.phase, AttemptPhase::Document);
    assert_eq!(events[0].event_type, EventType::SessionInProgress);
    assert_eq!(
        s.bind(&mut a, t(3)),
        Err(TransitionError::WrongPhase {
            expected: AttemptPhase::Handoff,
            actual: AttemptPhase::Document
        })
    );
    let mut second = s.hand_off(t(4)).unwrap();
    assert!(
        s.bind(&mut second, t(5)).unwrap().is_empty(),
        "in_progress is announced once per session"
    );
}

#[test]
fn steps_must_come_in_order() {
    let (mut s, mut a) = started();
    let out_of_order = s.record_failure(&mut a, FailureCode::LivenessFailed, t(2));
    assert_eq!(
        out_of_order,
        Err(TransitionError::WrongPhase {
            expected: AttemptPhase::Liveness,
            actual: AttemptPhase::Document
        })
    );
    assert_eq!(s.liveness_tries_used, 0, "a refused step changes nothing");
    assert!(matches!(
        s.succeed(&mut a, &[], t(2)),
        Err(TransitionError::WrongPhase { .. })
    ));
    s.advance(&mut a, AttemptPhase::Document, t(3)).unwrap();
    assert!(matches!(
        s.advance(&mut a, AttemptPhase::Document, t(4)),
        Err(TransitionError::WrongPhase { .. })
    ));
    assert_eq!(
        TransitionError::WrongPhase {
            expected: AttemptPhase::Consent,
            actual: AttemptPhase::Liveness
        }
        .to_error()
        .code,
        ErrorCode::PhaseOutOfOrder
    );
}

#[test]
fn the_end_user_api_reports_each_ending_by_its_own_code() {
    assert_eq!(
        TransitionError::Terminal(SessionStatus::Expired)
            .to_error()
            .code,
        ErrorCode::SessionExpired
    );
    assert_eq!(
        TransitionError::Overdue.to_error().code,
        ErrorCode::SessionExpired
    );
    assert_eq!(
        TransitionError::Terminal(SessionStatus::Failed)
            .to_error()
            .code,
        ErrorCode::SessionTerminal
    );
    assert_eq!(
        TransitionError::AttemptNotOpen.to_error().code,
        ErrorCode::AttemptClosed
    );
}

#[test]
fn only_the_exact_cancel_token_matches() {
    let session = new_session();
    let token = session.cancel_token.expose().clone();
    assert!(session.cancel_token_matches(&token));
    assert!(!session.cancel_token_matches(&token[..token.len() - 1]));
    assert!(!session.cancel_token_matches(&format!("{token}x")));
    assert!(!session.cancel_token_matches(""));
}
