use hotline_mail::html::{Policy, escape, from_text, sanitize, to_text};

fn clean(html: &str) -> String {
    sanitize(html, Policy::default()).html
}

#[test]
fn scripts_and_handlers_are_removed() {
    let out = clean(
        "<p onclick=\"steal()\">hi</p><script>alert(1)</script>\
         <img src=\"cid:x@y\" onerror=\"alert(2)\"><svg onload=alert(3)><circle/></svg>\
         <body onload=alert(4)>text</body>",
    );
    let lower = out.to_ascii_lowercase();
    for bad in ["script", "onclick", "onerror", "onload", "alert", "svg"] {
        assert!(!lower.contains(bad), "{bad} in {out}");
    }
    assert!(out.contains("hi"));
    assert!(out.contains("src=\"cid:x@y\""), "{out}");
}

#[test]
fn javascript_and_data_urls_are_removed() {
    let out = clean(
        "<a href=\"javascript:alert(1)\">a</a><a href=\" JaVaScRiPt:alert(1)\">b</a>\
         <a href=\"data:text/html,<script>alert(1)</script>\">c</a>\
         <a href=\"vbscript:x\">d</a><img src=\"data:image/png;base64,AAAA\">",
    );
    let lower = out.to_ascii_lowercase();
    assert!(!lower.contains("javascript"), "{out}");
    assert!(!lower.contains("data:"), "{out}");
    assert!(!lower.contains("vbscript"), "{out}");
}

#[test]
fn css_is_removed() {
    let out = clean(
        "<div style=\"width: expression(alert(1)); background:url(http://t.example/p.gif)\">x</div>\
         <style>body{background:url(http://t.example/q.gif)}</style>\
         <link rel=stylesheet href=\"http://t.example/s.css\">",
    );
    let lower = out.to_ascii_lowercase();
    for bad in ["style", "expression", "t.example", "<link"] {
        assert!(!lower.contains(bad), "{bad} in {out}");
    }
    assert!(out.contains('x'));
}

#[test]
fn remote_images_are_blocked_by_default() {
    let html = "<p>Hi</p><img src=\"http://tracker.example/pixel.gif?u=1\" width=1 height=1>\
                <img src=\"https://cdn.example/logo.png\" alt=\"logo\">";
    let safe = sanitize(html, Policy::default());
    assert!(!safe.html.contains("tracker.example"), "{}", safe.html);
    assert!(!safe.html.contains("cdn.example"));
    assert_eq!(safe.blocked_images, 2);
    assert!(safe.html.contains("alt=\"logo\""));

    let shown = sanitize(
        html,
        Policy {
            remote_images: true,
        },
    );
    assert!(shown.html.contains("https://cdn.example/logo.png"));
    assert_eq!(shown.blocked_images, 0);
}

#[test]
fn frames_and_forms_are_removed() {
    let out = clean(
        "<iframe src=\"http://evil.example\">inside</iframe>\
         <form action=\"http://evil.example/login\"><input name=password>\
         <button>Log in</button>Please confirm</form>\
         <object data=x></object><embed src=y><meta http-equiv=refresh content=\"0;url=http://evil.example\">\
         <base href=\"http://evil.example/\">",
    );
    let lower = out.to_ascii_lowercase();
    for bad in [
        "iframe",
        "<form",
        "<input",
        "button",
        "object",
        "embed",
        "meta",
        "<base",
        "evil.example",
    ] {
        assert!(!lower.contains(bad), "{bad} in {out}");
    }
    assert!(out.contains("Please confirm"));
}

#[test]
fn links_open_safely() {
    let out =
        clean("<a href=\"https://shop.example/order/1\">order</a><a href=\"/relative\">rel</a>");
    assert!(
        out.contains("href=\"https://shop.example/order/1\""),
        "{out}"
    );
    assert!(
        out.contains("rel=\"noopener noreferrer nofollow\""),
        "{out}"
    );
    assert!(out.contains("target=\"_blank\""), "{out}");
    assert!(!out.contains("/relative"), "{out}");
}

#[test]
fn plain_text_rendering() {
    let text = to_text(
        "<html><head><title>T</title><style>.a{}</style></head><body>\
         <h1>Order</h1><p>Line one<br>Line two</p><ul><li>cup</li><li>茶壶</li></ul>\
         <script>document.write('x')</script><a href=\"https://a.example\">link text</a></body></html>",
    );
    assert!(text.contains("Order"), "{text}");
    assert!(text.contains("Line one\nLine two"), "{text}");
    assert!(text.contains("cup") && text.contains("茶壶"));
    assert!(text.contains("link text"));
    assert!(!text.contains("document.write"));
    assert!(!text.contains(".a{}"));
}

#[test]
fn text_to_html_escapes() {
    assert_eq!(
        escape("<a href='x'>&</a>"),
        "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;"
    );
    let html = from_text("Hello <b>\nsecond line\n\nnew paragraph");
    assert!(
        html.contains("<p>Hello &lt;b&gt;<br>\nsecond line</p>"),
        "{html}"
    );
    assert!(html.contains("<p>new paragraph</p>"));
}

mod fuzz {
    use hotline_mail::html::{Policy, sanitize, to_text};
    use proptest::prelude::*;

    const PIECES: &[&str] = &[
        "<script>",
        "</script>",
        "<img src=",
        "http://t.example/p.gif",
        " onerror=",
        "alert(1)",
        "<a href=\"",
        "javascript:",
        "\">",
        "<iframe>",
        "<style>",
        "<form>",
        "<svg onload=x>",
        "<!--",
        "-->",
        "<![CDATA[",
        "&lt;",
        "\"",
        "'",
        ">",
        "<",
        "text",
        "<p>",
        "<div style=",
        "expression(",
        "<table><tr><td>",
        "<meta http-equiv=refresh>",
        "<base href=x>",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn hostile_soup_comes_out_inert(picks in proptest::collection::vec(0..PIECES.len(), 0..40)) {
            let html: String = picks.iter().map(|&i| PIECES[i]).collect();
            let out = sanitize(&html, Policy::default()).html.to_ascii_lowercase();
            // Text cannot hold a raw '<' (it is escaped), so every '<' in
            // the output opens a tag: look inside the tags only.
            for tag in out.split('<').skip(1).map(|t| t.split('>').next().unwrap_or_default()) {
                let name = tag.trim_start_matches('/').split([' ', '/']).next().unwrap_or_default();
                prop_assert!(
                    !["script", "iframe", "style", "form", "svg", "meta", "base", "link"].contains(&name),
                    "<{}> in {}", tag, out
                );
                // Attribute values are double-quoted (a '"' inside is
                // escaped): odd pieces are values, even pieces hold names.
                let pieces: Vec<&str> = tag.split('"').collect();
                for (i, piece) in pieces.iter().enumerate() {
                    if i % 2 == 0 {
                        prop_assert!(!piece.contains(" on") && !piece.contains("style="), "<{}> in {}", tag, out);
                    } else {
                        let value = piece.trim_start();
                        let name = pieces[i - 1].trim_end_matches('=').rsplit(' ').next().unwrap_or_default();
                        prop_assert!(!value.starts_with("javascript:"), "<{}> in {}", tag, out);
                        prop_assert!(!(name == "src" && value.starts_with("http")), "<{}> in {}", tag, out);
                    }
                }
            }
            let _ = to_text(&html);
        }

        #[test]
        fn random_text_never_panics(html in "\\PC{0,300}") {
            let _ = sanitize(&html, Policy { remote_images: true });
            let _ = to_text(&html);
        }
    }
}
