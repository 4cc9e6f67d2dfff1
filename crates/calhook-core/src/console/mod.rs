//! The operator console under `/admin/`: server-rendered HTML (askama, escaped
//! by default: every string from Cal.com is), usable without JavaScript, no
//! asset from outside the worker. Signing in ([`session`]) and the pages
//! ([`pages`]) are decided here; the admin worker reads the data and answers.

pub mod pages;
pub mod session;

/// The console's paths.
pub const HOME: &str = "/admin/";
pub const LOGIN: &str = "/admin/login";
pub const LOGOUT: &str = "/admin/logout";
pub const UI_PREFIX: &str = "/admin/ui/";
pub const STYLESHEET: &str = "/admin/ui/style.css";

/// Strict: nothing but the worker's own stylesheet and forms; never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Whether `path` is one of the console's (the JSON API keeps the rest).
pub fn is_console(path: &str) -> bool {
    path == HOME
        || path == "/admin"
        || path == LOGIN
        || path == LOGOUT
        || path.starts_with(UI_PREFIX)
}

/// The console's one stylesheet: readable at phone width.
pub const CSS: &str = r#"
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d2330;background:#f4f5f7}
header{display:flex;flex-wrap:wrap;gap:.6rem 1.2rem;align-items:center;padding:.7rem 1rem;background:#1d2330;color:#fff}
header a{color:#cfd8ff;text-decoration:none}
header nav{display:flex;flex-wrap:wrap;gap:.9rem;flex:1}
main{max-width:1100px;margin:0 auto;padding:1rem}
h1{font-size:1.35rem;margin:.3rem 0 1rem}
h2{font-size:1.05rem;margin:1.6rem 0 .5rem}
table{width:100%;border-collapse:collapse;background:#fff;border:1px solid #dde1e8;font-size:.92rem}
th,td{text-align:left;padding:.45rem .55rem;border-bottom:1px solid #eceef2;vertical-align:top;overflow-wrap:anywhere}
th{background:#f8f9fb;font-weight:600}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(200px,1fr));gap:.7rem}
.card{display:block;padding:.9rem;background:#fff;border:1px solid #dde1e8;border-radius:6px;color:inherit;text-decoration:none}
.card b{display:block;font-size:1.6rem}
.warn{border-color:#e0a100}.bad,.failed{color:#b3261e}.card.bad{border-color:#b3261e}
.notice{padding:.6rem .8rem;background:#fff;border-left:4px solid #3b6ef5}
form.inline{display:inline}
button{font:inherit;padding:.35rem .8rem;border:1px solid #3b6ef5;background:#3b6ef5;color:#fff;border-radius:4px;cursor:pointer}
input{font:inherit;padding:.4rem .5rem;border:1px solid #c3c8d2;border-radius:4px}
.search{display:flex;gap:.5rem;margin-bottom:1rem}.search input{flex:1}
.login{display:grid;gap:.6rem;max-width:360px}
code{font-size:.85em}
"#;
