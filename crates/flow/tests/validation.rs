//! Every validation error names its dotted key path.

use hotline_flow::*;

fn errors(text: &str) -> Vec<ValidationError> {
    let set = FlowSet::from_toml_unchecked(text).expect("parses");
    set.validate().expect_err("invalid")
}

fn has(errs: &[ValidationError], path: &str, words: &str) {
    assert!(
        errs.iter()
            .any(|e| e.path == path && e.message.contains(words)),
        "no error at {path} with `{words}` in {errs:#?}"
    );
}

/// A valid base to break one way or another.
const BASE: &str = r#"
[flows.main]
start = "menu"
[flows.main.steps.menu]
type = "menu"
prompts = ["menu"]
options = { "1" = "queue" }
default = "queue"
[flows.main.steps.queue]
type = "enqueue"
queue = "general"
"#;

#[test]
fn base_and_demo_are_valid() {
    assert!(FlowSet::from_toml(BASE).is_ok());
    assert!(FlowSet::from_toml(DEMO_FLOWS).is_ok());
}

#[test]
fn unknown_menu_target() {
    let e = errors(&BASE.replace(r#""1" = "queue""#, r#""1" = "acounts""#));
    has(
        &e,
        "flows.main.steps.menu.options.1",
        "no step named `acounts`",
    );
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_eq!(
        e[0].to_string(),
        "flows.main.steps.menu.options.1: no step named `acounts` in flow `main`"
    );
}

#[test]
fn unknown_start() {
    let e = errors(&BASE.replace(r#"start = "menu""#, r#"start = "welcome""#));
    has(&e, "flows.main.start", "no step named `welcome`");
}

#[test]
fn unreachable_step() {
    let text = format!("{BASE}\n[flows.main.steps.orphan]\ntype = \"hangup\"\n");
    let e = errors(&text);
    has(&e, "flows.main.steps.orphan", "unreachable");
    assert_eq!(e.len(), 1);
}

#[test]
fn loop_without_a_waiting_step() {
    let e = errors(
        r#"
        [flows.main]
        start = "a"
        [flows.main.steps.a]
        type = "set"
        priority = 1
        next = "b"
        [flows.main.steps.b]
        type = "branch"
        rules = [{ vip = true, goto = "done" }]
        else = "a"
        [flows.main.steps.done]
        type = "hangup"
        "#,
    );
    has(&e, "flows.main.steps.a", "it would spin");
    has(&e, "flows.main.steps.a", "a → b → a");
}

#[test]
fn loop_through_a_menu_is_fine() {
    let text = BASE.replace(r#"default = "queue""#, r#"default = "again""#)
        + "\n[flows.main.steps.again]\ntype = \"set\"\nvars = { retry = \"1\" }\nnext = \"menu\"\n";
    assert!(FlowSet::from_toml(&text).is_ok());
}

#[test]
fn missing_prompts() {
    let e = errors(&BASE.replace(r#"prompts = ["menu"]"#, "prompts = []"));
    has(&e, "flows.main.steps.menu.prompts", "no prompt");
}

#[test]
fn bad_prompt_name() {
    let e = errors(&BASE.replace(r#"prompts = ["menu"]"#, r#"prompts = ["menu", "Bad Name"]"#));
    has(&e, "flows.main.steps.menu.prompts.1", "not a prompt name");
}

#[test]
fn menu_option_must_be_one_key() {
    let e = errors(&BASE.replace(r#""1" = "queue""#, r#""12" = "queue""#));
    has(&e, "flows.main.steps.menu.options.12", "not one key");
}

#[test]
fn zero_timeout() {
    let e = errors(&BASE.replace(
        r#"default = "queue""#,
        "default = \"queue\"\ntimeout_secs = 0",
    ));
    has(
        &e,
        "flows.main.steps.menu.timeout_secs",
        "at least 1 second",
    );
}

#[test]
fn enqueue_checks() {
    let e = errors(&BASE.replace(
        r#"queue = "general""#,
        "queue = \"\"\nafter_call = \"poll\"\ncallback_digit = \"x\"\nannounce_every_secs = 0",
    ));
    has(&e, "flows.main.steps.queue.queue", "must not be empty");
    has(
        &e,
        "flows.main.steps.queue.after_call",
        "no flow named `poll`",
    );
    has(&e, "flows.main.steps.queue.callback_digit", "not a key");
    has(
        &e,
        "flows.main.steps.queue.announce_every_secs",
        "at least 1",
    );
    assert_eq!(e.len(), 4, "every error is reported: {e:#?}");

    let e = errors(&BASE.replace(
        r#"queue = "general""#,
        "queue = \"general\"\ncallback_digit = \"1\"",
    ));
    has(
        &e,
        "flows.main.steps.queue.callback_digit",
        "announce_every_secs",
    );
}

#[test]
fn branch_rule_checks() {
    let e = errors(
        r#"
        [flows.main]
        start = "b"
        [flows.main.steps.b]
        type = "branch"
        rules = [
            { goto = "end" },
            { open = "office", goto = "end" },
            { equals = "x", goto = "end" },
            { wait_over_secs = 60, goto = "end" },
            { language = "fr", goto = "end" },
            { holiday = "office", goto = "nowhere" },
        ]
        else = "end"
        [flows.main.steps.end]
        type = "hangup"
        "#,
    );
    has(&e, "flows.main.steps.b.rules.0", "without a condition");
    has(
        &e,
        "flows.main.steps.b.rules.1.open",
        "no schedule named `office`",
    );
    has(&e, "flows.main.steps.b.rules.2.equals", "needs `var`");
    has(&e, "flows.main.steps.b.rules.3.queue", "need the `queue`");
    has(
        &e,
        "flows.main.steps.b.rules.4.language",
        "not a prompt language",
    );
    has(
        &e,
        "flows.main.steps.b.rules.5.holiday",
        "no schedule named `office`",
    );
    has(
        &e,
        "flows.main.steps.b.rules.5.goto",
        "no step named `nowhere`",
    );
}

#[test]
fn schedule_checks() {
    let e = errors(&format!(
        "{BASE}\n[schedules.office]\ntimezone = \"Asia/Shangai\"\nopen = [{{ from = \"20:00\", to = \"08:00\" }}]\n"
    ));
    has(&e, "schedules.office.timezone", "not an IANA time zone");
    has(&e, "schedules.office.open.0", "must end after it starts");
}

#[test]
fn collect_and_authenticate_checks() {
    let e = errors(
        r#"
        [flows.main]
        start = "c"
        [flows.main.steps.c]
        type = "collect"
        prompts = ["enter"]
        into = ""
        min_len = 8
        max_len = 4
        terminator = "5"
        next = "a"
        on_failure = "a"
        [flows.main.steps.a]
        type = "authenticate"
        prompts = []
        max_attempts = 0
        pin_min_len = 9
        next = "s"
        on_failure = "s"
        [flows.main.steps.s]
        type = "survey"
        max_score = 12
        next = "end"
        [flows.main.steps.end]
        type = "hangup"
        "#,
    );
    has(&e, "flows.main.steps.c.into", "must not be empty");
    has(&e, "flows.main.steps.c.min_len", "more than max_len");
    has(&e, "flows.main.steps.c.terminator", "`#` or `*`");
    has(&e, "flows.main.steps.a.prompts", "no prompt");
    has(&e, "flows.main.steps.a.max_attempts", "at least 1");
    has(&e, "flows.main.steps.a.pin_min_len", "at most pin_max_len");
    has(&e, "flows.main.steps.s.max_score", "between 1 and 9");
}

#[test]
fn set_language_check() {
    let e = errors(
        r#"
        [flows.main]
        start = "s"
        [flows.main.steps.s]
        type = "set"
        language = "de"
        next = "end"
        [flows.main.steps.end]
        type = "hangup"
        "#,
    );
    has(&e, "flows.main.steps.s.language", "`de`");
}

#[test]
fn fault_notice_needs_a_prompt() {
    let e = errors(&format!("[fault_notice]\nprompts = []\n{BASE}"));
    has(&e, "fault_notice.prompts", "no prompt");
}

#[test]
fn empty_sets_and_flows() {
    let e = errors("flows = {}");
    has(&e, "flows", "no flows");
    let e = errors("[flows.main]\nstart = \"x\"\nsteps = {}\n");
    has(&e, "flows.main.steps", "no steps");
}

#[test]
fn unknown_keys_and_types_are_parse_errors() {
    let err = FlowSet::from_toml(&BASE.replace("default = ", "defualt = \"x\"\ndefault = "))
        .expect_err("unknown key");
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            LoadError::Parse {
                line: 8,
                column: 1,
                ..
            }
        ),
        "the unknown key is on line 8: {err:?}"
    );
    assert!(msg.contains("defualt"), "{msg}");

    let err = FlowSet::from_toml(&BASE.replace(r#"type = "menu""#, r#"type = "menue""#))
        .expect_err("unknown type");
    assert!(err.to_string().contains("menue"), "{err}");

    let err = FlowSet::from_toml(&format!(
        "{BASE}\n[schedules.o]\ntimezone = \"UTC\"\nopen = [{{ from = \"8am\", to = \"20:00\" }}]\n"
    ))
    .expect_err("bad time");
    assert!(err.to_string().contains("HH:MM"), "{err}");
}

#[test]
fn load_error_lists_every_problem() {
    let text = BASE
        .replace(r#""1" = "queue""#, r#""1" = "nope""#)
        .replace(r#"start = "menu""#, r#"start = "nada""#);
    let err = FlowSet::from_toml(&text).expect_err("invalid");
    let LoadError::Invalid(list) = &err else {
        panic!("{err}")
    };
    assert!(list.len() >= 2);
    let shown = err.to_string();
    assert!(shown.contains("flows.main.start: "), "{shown}");
    assert!(
        shown.contains("flows.main.steps.menu.options.1: "),
        "{shown}"
    );
}

#[test]
fn loaded_errors_carry_line_and_column() {
    let text = BASE.replace(r#""1" = "queue""#, r#""1" = "acounts""#);
    let Err(LoadError::Invalid(list)) = FlowSet::from_toml(&text) else {
        panic!("invalid expected")
    };
    assert_eq!((list[0].line, list[0].column), (7, 13), "{list:?}");
    assert_eq!(
        list[0].to_string(),
        "7:13: flows.main.steps.menu.options.1: no step named `acounts` in flow `main`"
    );
}

#[test]
fn locate_walks_tables_arrays_and_dotted_headers() {
    let text = r#"
[flows.main]
start = "b"

[flows.main.steps.b]
type = "branch"
rules = [
    { vip = true, goto = "end" },
    { open = "office", goto = "end" },
]
else = "end"

[flows.main.steps.end]
type = "hangup"
"#;
    let set = FlowSet::from_toml_unchecked(text).unwrap();
    let mut e = set.validate().unwrap_err();
    assert_eq!(e.len(), 1);
    e[0].locate(text);
    assert_eq!(e[0].path, "flows.main.steps.b.rules.1.open");
    assert_eq!((e[0].line, e[0].column), (9, 7));
    // A path the text does not hold stops at the deepest key found.
    let mut other = e[0].clone();
    other.path = "flows.main.steps.zzz.next".into();
    other.locate(text);
    assert_eq!(
        other.line, 5,
        "`steps` first appears in the header on line 5"
    );
}
