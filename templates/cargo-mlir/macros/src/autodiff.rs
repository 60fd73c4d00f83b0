//! `#[autodiff_forward(NAME, [WIDTH,] ACTIVITIES…)]` and
//! `#[autodiff_reverse(NAME, ACTIVITIES…)]` with std::autodiff's syntax and
//! generated signatures (nightly's `rustc_builtin_macros/src/autodiff.rs`):
//! the function stays as it is, and a derivative `NAME` is added beside it,
//! with the primal's visibility, one activity per parameter and one for the
//! return (none when the function returns `()`):
//!
//! - reverse mode: `Duplicated`/`DuplicatedOnly` add a shadow `d<x>_0` of the
//!   parameter's type made mutable (`&[f64]` → `&mut [f64]`, `*const T` →
//!   `*mut T`) right after it; an `Active` return adds the seed `dret`; the
//!   result is the primal's return (dropped by `ActiveOnly`) then the gradient
//!   of each `Active` parameter, a tuple when more than one;
//! - forward mode: `Dual`/`DualOnly` add WIDTH shadows `b<x>_0 … b<x>_{W-1}`
//!   of the parameter's own type; a `Dual` return gives `(primal, tangent)`
//!   (`[T; W + 1]` for a width W > 1), `DualOnly` the tangent (`[T; W]`);
//! - `DuplicatedOnly`/`DualOnly` on a parameter make the derivative `unsafe`.
//!
//! The derivative's body holds the items the pipeline reads (docs/autodiff.md):
//!
//! ```text
//! #[unsafe(no_mangle)] pub extern "C" fn __cargo_mlir_primal_<u>(<flat primal params>) -> RET { foo(…) }
//! #[unsafe(no_mangle)] #[inline(never)] pub extern "C" fn __cargo_mlir_grad_<u>(<flat signature>) -> u8 {
//!     <the runtime's direct entry registered under this name, if any: 1 when it ran, else 0>
//! }
//! #[used] #[unsafe(no_mangle)] static __cargo_mlir_marker_autodiff_<u>: [u8; _] = *b"cargo-mlir-marker/2;autodiff;…";
//! <shadow lengths checked; arguments flattened; result slots>
//! if __cargo_mlir_grad_<u>(…, &raw mut slot, …) == 0 { <panic: build with cargo mlir> }
//! <the results, packed as std packs them>
//! ```

use proc_macro::{Delimiter, Ident, Literal, Span, TokenStream, TokenTree};

use crate::abi;
use crate::parse::{self, ArgKind, ParamType, Site, SCALARS};

pub const SUPPORTED: &str = "a differentiated function takes f32, f64, i32, u32, i64, u64, usize, isize, bool \
                             (integers and bool as Const), &[T], &mut [T], &[T; N], &mut [T; N], &T, &mut T, \
                             *const T, *mut T (T one of those scalars) and returns () or one of those scalars";
const RETURNS: &str = "a differentiated function returns () or one scalar: f32, f64, i32, u32, i64, u64, usize, \
                       isize, bool";
const FLOATS: [&str; 2] = ["f32", "f64"];

/// The marker's kind and the entry prefix, both from abi.rs.
const KIND: &str = abi::MARKER_KINDS[2];
const _: () = assert!(abi::str_eq(abi::ENTRY_PREFIXES[2].0, KIND) && abi::str_eq(abi::ENTRY_PREFIXES[2].1, abi::GRAD_PREFIX));

type Error = (Span, String);

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode { Forward, Reverse }

impl Mode {
    fn attr(self) -> &'static str {
        match self {
            Mode::Forward => "#[autodiff_forward]",
            Mode::Reverse => "#[autodiff_reverse]",
        }
    }

    /// As FLAGS writes it (`abi::AUTODIFF_MODES`: forward, reverse).
    fn flag(self) -> &'static str {
        abi::AUTODIFF_MODES[match self { Mode::Forward => 0, Mode::Reverse => 1 }]
    }

    fn inputs(self) -> &'static str {
        match self {
            Mode::Forward => "Const, Dual or DualOnly",
            Mode::Reverse => "Const, Active, Duplicated or DuplicatedOnly",
        }
    }

    fn returns(self) -> &'static str {
        match self {
            Mode::Forward => "Const, Dual or DualOnly",
            Mode::Reverse => "Const, Active or ActiveOnly",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Act { Const, Active, ActiveOnly, Duplicated, DuplicatedOnly, Dual, DualOnly }

impl Act {
    fn name(self) -> &'static str {
        match self {
            Act::Const => "Const",
            Act::Active => "Active",
            Act::ActiveOnly => "ActiveOnly",
            Act::Duplicated => "Duplicated",
            Act::DuplicatedOnly => "DuplicatedOnly",
            Act::Dual => "Dual",
            Act::DualOnly => "DualOnly",
        }
    }

    fn shadowed(self) -> bool {
        matches!(self, Act::Duplicated | Act::DuplicatedOnly | Act::Dual | Act::DualOnly)
    }
}

struct Activity {
    act: Act,
    span: Span,
}

struct Attr {
    name: Ident,
    width: u32,
    acts: Vec<Activity>,
}

struct Param {
    /// the parameter's name (the pattern `x` or `mut x`)
    name: Ident,
    ty: ParamType,
    /// the type as the user wrote it, as code and for messages
    ty_text: String,
    ty_show: String,
}

struct Function {
    vis: Vec<TokenTree>,
    is_unsafe: bool,
    name: Ident,
    /// `<'a, 'b>` as written, or empty
    generics: String,
    params: Vec<Param>,
    ret: Option<String>,
    /// `-> ()` written out (std keeps it as a unit type in the derivative's return)
    unit_ret: bool,
}

fn is_ident(t: &TokenTree, s: &str) -> bool {
    matches!(t, TokenTree::Ident(i) if i.to_string() == s)
}

fn is_punct(t: &TokenTree, c: char) -> bool {
    matches!(t, TokenTree::Punct(p) if p.as_char() == c)
}

/// `123`, `4usize`, `1_0u32` as a number; None for any other literal.
fn int_literal(lit: &Literal) -> Option<u128> {
    let text = lit.to_string();
    let digits = ["usize", "u128", "u64", "u32", "u16", "u8", "isize", "i128", "i64", "i32", "i16", "i8"]
        .iter()
        .find_map(|s| text.strip_suffix(s))
        .unwrap_or(&text)
        .replace('_', "");
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn attr(mode: Mode, attr: TokenStream) -> Result<Attr, Error> {
    let usage = match mode {
        Mode::Forward => "#[autodiff_forward(NAME, [WIDTH,] ACTIVITY…, RETURN_ACTIVITY)]",
        Mode::Reverse => "#[autodiff_reverse(NAME, ACTIVITY…, RETURN_ACTIVITY)]",
    };
    let parts = parse::split_commas(attr);
    let mut parts = parts.into_iter().peekable();
    let name = match parts.next() {
        Some(part) => match part.as_slice() {
            [TokenTree::Ident(id)] => id.clone(),
            _ => return Err((part[0].span(), format!("expected the derivative's name first: {usage}"))),
        },
        None => return Err((Span::call_site(), format!("expected the derivative's name and the activities: {usage}"))),
    };
    let mut width = 1;
    if let Some([TokenTree::Literal(lit)]) = parts.peek().map(|p| p.as_slice()) {
        let (lit, span) = (lit.clone(), lit.span());
        parts.next();
        match int_literal(&lit) {
            Some(0) | None => {
                return Err((span, format!("the width of {} is a positive integer (`{lit}` is not): {usage}",
                                          mode.attr())))
            }
            Some(w) if mode == Mode::Reverse && w != 1 => {
                return Err((span, format!("cargo-mlir makes reverse-mode derivatives one seed at a time: \
                                           #[autodiff_reverse] takes no width (`{lit}`); use \
                                           #[autodiff_forward(NAME, {w}, …)] for vector derivatives")))
            }
            Some(w) => width = u32::try_from(w).map_err(|_| (span, format!("width `{lit}` is too large")))?,
        }
    }
    let mut acts = Vec::new();
    for part in parts {
        let [TokenTree::Ident(id)] = part.as_slice() else {
            return Err((part[0].span(), format!("expected an activity ({} for parameters, {} for the return), \
                                                 found `{}`", mode.inputs(), mode.returns(),
                                                parse::type_text(&part))));
        };
        let act = match id.to_string().as_str() {
            "Const" => Act::Const,
            "Active" => Act::Active,
            "ActiveOnly" => Act::ActiveOnly,
            "Duplicated" => Act::Duplicated,
            "DuplicatedOnly" => Act::DuplicatedOnly,
            "Dual" => Act::Dual,
            "DualOnly" => Act::DualOnly,
            v @ ("Dualv" | "DualvOnly") => {
                return Err((id.span(), format!("`{v}` (one shadow WIDTH times larger) is not supported by \
                                                cargo-mlir; use `{}` with a width: \
                                                #[autodiff_forward(NAME, WIDTH, …)] gives WIDTH shadows",
                                               v.replace('v', ""))))
            }
            "None" => {
                return Err((id.span(), "`None` is not written: a function that returns nothing takes no return \
                                        activity".to_string()))
            }
            other => {
                return Err((id.span(), format!("unknown activity `{other}`; {} takes {} for parameters and {} for \
                                                the return", mode.attr(), mode.inputs(), mode.returns())))
            }
        };
        acts.push(Activity { act, span: id.span() });
    }
    Ok(Attr { name, width, acts })
}

/// Whether `Self` occurs in these tokens (outside nested `impl`/`trait` blocks).
fn names_self_type(ts: TokenStream) -> Option<Span> {
    let mut skip = false;
    for t in ts {
        match &t {
            TokenTree::Ident(i) if i.to_string() == "Self" && !skip => return Some(i.span()),
            TokenTree::Ident(i) if i.to_string() == "impl" || i.to_string() == "trait" => skip = true,
            TokenTree::Group(g) if g.delimiter() == Delimiter::Brace && skip => skip = false,
            TokenTree::Group(g) if !skip => {
                if let Some(s) = names_self_type(g.stream()) {
                    return Some(s);
                }
            }
            _ => {}
        }
    }
    None
}

fn function(mode: Mode, item: TokenStream) -> Result<Function, Error> {
    let attr = mode.attr();
    let toks: Vec<TokenTree> = item.into_iter().collect();
    let mut i = 0;
    let mut vis = Vec::new();
    let mut is_unsafe = false;
    while i < toks.len() && !is_ident(&toks[i], "fn") {
        match &toks[i] {
            TokenTree::Punct(p) if p.as_char() == '#' => i += 1, // attribute: `#` then `[...]`
            TokenTree::Ident(id) if id.to_string() == "pub" => {
                vis.push(toks[i].clone());
                if let Some(TokenTree::Group(g)) = toks.get(i + 1) {
                    if g.delimiter() == Delimiter::Parenthesis {
                        vis.push(toks[i + 1].clone());
                        i += 1;
                    }
                }
            }
            TokenTree::Ident(id) if id.to_string() == "unsafe" => is_unsafe = true,
            TokenTree::Ident(id) if ["async", "const", "extern"].contains(&id.to_string().as_str()) => {
                return Err((id.span(), format!("{attr}: a differentiated function cannot be `{id}`: it is an \
                                                ordinary (optionally `unsafe`) Rust function")));
            }
            t => return Err((t.span(), format!("{attr} goes on a function: `fn name(args) -> ret {{ … }}`"))),
        }
        i += 1;
    }
    let fn_span = toks.get(i).map(|t| t.span()).unwrap_or_else(Span::call_site);
    let Some(TokenTree::Ident(name)) = toks.get(i + 1).cloned() else {
        return Err((fn_span, format!("{attr} goes on a function: `fn name(args) -> ret {{ … }}`")));
    };
    // lifetime parameters are copied to the derivative; type and const parameters are not supported
    let mut at = i + 2;
    let mut generics = String::new();
    if toks.get(at).is_some_and(|t| is_punct(t, '<')) {
        let start = at;
        let mut depth = 0usize;
        while let Some(t) = toks.get(at) {
            match t {
                TokenTree::Punct(p) if p.as_char() == '<' => depth += 1,
                TokenTree::Punct(p) if p.as_char() == '>' => {
                    depth -= 1;
                    if depth == 0 {
                        at += 1;
                        break;
                    }
                }
                TokenTree::Punct(p) if p.as_char() == '\'' => at += 1, // `'a`: skip the name
                TokenTree::Punct(p) if p.as_char() == ',' || p.as_char() == ':' || p.as_char() == '+' => {}
                other => {
                    return Err((other.span(), format!("{attr}: a differentiated function cannot be generic \
                                                       (lifetime parameters are fine): give every parameter a \
                                                       concrete type; {SUPPORTED}")))
                }
            }
            at += 1;
        }
        generics = toks[start..at].iter().cloned().collect::<TokenStream>().to_string();
    }
    let params_group = match toks.get(at) {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis => g.clone(),
        _ => return Err((name.span(), "expected the function's parameter list".into())),
    };
    // `-> RET`, then the body
    let mut k = at + 1;
    let mut ret = None;
    let mut unit_ret = false;
    if toks.get(k).is_some_and(|t| is_punct(t, '-')) && toks.get(k + 1).is_some_and(|t| is_punct(t, '>')) {
        let end = toks[k + 2..].iter()
            .position(|t| matches!(t, TokenTree::Group(g) if g.delimiter() == Delimiter::Brace) || is_ident(t, "where"))
            .map_or(toks.len(), |e| k + 2 + e);
        match &toks[k + 2..end] {
            [TokenTree::Ident(s)] if SCALARS.contains(&s.to_string().as_str()) => ret = Some(s.to_string()),
            [TokenTree::Group(g)] if g.delimiter() == Delimiter::Parenthesis && g.stream().is_empty() => unit_ret = true,
            [] => return Err((toks[k + 1].span(), format!("{attr}: expected a return type; {RETURNS}"))),
            ty => {
                return Err((ty[0].span(), format!("{attr}: unsupported return type `{}`; {RETURNS}",
                                                  parse::type_text(ty))))
            }
        }
        k = end;
    }
    match toks.get(k) {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace && k + 1 == toks.len() => {}
        Some(t) if is_ident(t, "where") => {
            return Err((t.span(), format!("{attr}: a differentiated function cannot have a `where` clause; \
                                           {SUPPORTED}")))
        }
        Some(t) => return Err((t.span(), format!("{attr} goes on a function with a body"))),
        None => return Err((name.span(), format!("{attr} goes on a function with a body"))),
    }
    let mut params = Vec::new();
    for part in parse::split_commas(params_group.stream()) {
        let self_at = part.iter().take(4).find(|t| is_ident(t, "self"));
        if let Some(t) = self_at {
            return Err((t.span(), format!("{attr} in cargo-mlir goes on free functions, not on methods \
                                           (`self`): move the function out of the `impl` block")));
        }
        let (colon, ty) = parse::param_type(&part, Site::Autodiff)?;
        let pname = match &part[..colon] {
            [TokenTree::Ident(x)] | [TokenTree::Ident(_), TokenTree::Ident(x)]
                if x.to_string() != "_" && (colon == 1 || is_ident(&part[0], "mut")) => x.clone(),
            pat => {
                return Err((pat.first().map_or(part[0].span(), |t| t.span()),
                            format!("{attr}: a parameter of a differentiated function is a plain name (`x` or \
                                     `mut x`), not `{}`: the derivative names its shadows after it (`dx_0`, \
                                     `bx_0`)", parse::type_text(pat))))
            }
        };
        let ty_toks = &part[colon + 1..];
        params.push(Param { name: pname, ty, ty_text: ty_toks.iter().cloned().collect::<TokenStream>().to_string(),
                            ty_show: parse::type_text(ty_toks) });
    }
    // an associated function (its signature or body names `Self`) cannot have its
    // derivative's entries beside it
    if let Some(span) = names_self_type(toks[at..].iter().cloned().collect()) {
        return Err((span, format!("{attr} in cargo-mlir goes on free functions, not on associated functions \
                                   (this function names `Self`)")));
    }
    Ok(Function { vis, is_unsafe, name, generics, params, ret, unit_ret })
}

/// The float a type carries a derivative in (`f64` of `&[f64]`), or what it is instead.
fn float_of(ty: &ParamType) -> Result<&str, &str> {
    let elem = match ty {
        ParamType::Scalar(s) => s,
        ParamType::Slice { elem, .. } | ParamType::Array { elem, .. } | ParamType::Pointer { elem, .. }
        | ParamType::Ref { elem, .. } => elem,
    };
    if FLOATS.contains(&elem.as_str()) { Ok(elem) } else { Err(elem) }
}

/// Each activity fits its mode, its parameter's type and the return.
fn check(mode: Mode, a: &Attr, f: &Function) -> Result<(), Error> {
    let attr = mode.attr();
    let primal = crate::plain_name(&f.name);
    let expected = f.params.len() + usize::from(f.ret.is_some());
    let found = a.acts.len();
    if found != expected {
        let span = if found > expected { a.acts[expected].span } else { a.acts.last().map_or(a.name.span(), |x| x.span) };
        let ret = match &f.ret {
            Some(r) => format!(", then one for the return `{r}`"),
            None => String::new(),
        };
        let note = if f.ret.is_none() && found == f.params.len() + 1 {
            format!("; `{primal}` returns nothing, so it takes no return activity")
        } else {
            String::new()
        };
        let plural = if expected == 1 { "activity" } else { "activities" };
        return Err((span, format!("{attr} on `{primal}` expects {expected} {plural} (one per parameter{ret}), \
                                   found {found}{note}")));
    }
    for (p, x) in f.params.iter().zip(&a.acts) {
        let (act, name) = (x.act.name(), p.name.to_string());
        let valid = match mode {
            Mode::Forward => matches!(x.act, Act::Const | Act::Dual | Act::DualOnly),
            Mode::Reverse => matches!(x.act, Act::Const | Act::Active | Act::Duplicated | Act::DuplicatedOnly),
        };
        if !valid {
            let why = match x.act {
                Act::ActiveOnly => "is a return activity".to_string(),
                Act::Dual | Act::DualOnly => "is a forward-mode activity (#[autodiff_forward])".to_string(),
                _ => "is a reverse-mode activity (#[autodiff_reverse])".to_string(),
            };
            return Err((x.span, format!("`{act}` {why}: {attr} takes {} for a parameter", mode.inputs())));
        }
        let what = format!("`{name}: {}`", p.ty_show);
        let by_value = matches!(p.ty, ParamType::Scalar(_));
        let float = float_of(&p.ty);
        let msg = match x.act {
            Act::Const => None,
            _ if float.is_err() => Some(format!("`{act}` needs floats (f32, f64): {what} carries no derivative; \
                                                 use `Const`")),
            Act::Active if !by_value => Some(format!("`Active` is for floats passed by value, and {what} is not: \
                                                      use `Duplicated` (its shadow `d{}_0` receives the gradient)",
                                                     crate::plain_name(&p.name))),
            Act::Duplicated | Act::DuplicatedOnly if by_value && float.is_ok() => {
                Some(format!("`{act}` is for references and raw pointers, and {what} is passed by value: use \
                              `Active` (its gradient is returned)"))
            }
            _ => None,
        };
        if let Some(msg) = msg {
            return Err((x.span, msg));
        }
    }
    if let (Some(ret), Some(x)) = (&f.ret, a.acts.last()) {
        let act = x.act.name();
        let valid = match mode {
            Mode::Forward => matches!(x.act, Act::Const | Act::Dual | Act::DualOnly),
            Mode::Reverse => matches!(x.act, Act::Const | Act::Active | Act::ActiveOnly),
        };
        if !valid {
            return Err((x.span, format!("`{act}` is not a return activity of {attr}: the return takes {}",
                                        mode.returns())));
        }
        if x.act != Act::Const && !FLOATS.contains(&ret.as_str()) {
            return Err((x.span, format!("`{act}` on the return needs a float return type (f32, f64): `{primal}` \
                                         returns `{ret}`; use `Const`")));
        }
    }
    Ok(())
}

/// The flat C parameters of a value of type `ty` (Rust expression `a`): (type, expression).
fn flat(ty: &ParamType, a: &str) -> Vec<(String, String)> {
    let ptr = |kind: &ArgKind| if matches!(kind, ArgKind::InOut) { "*mut" } else { "*const" };
    let take = |kind: &ArgKind| if matches!(kind, ArgKind::InOut) { "&raw mut *" } else { "&raw const *" };
    match ty {
        ParamType::Scalar(s) if s == "bool" => vec![("u8".into(), format!("{a} as u8"))],
        ParamType::Scalar(s) => vec![(s.clone(), a.into())],
        ParamType::Slice { elem, kind } => {
            let as_ptr = if matches!(kind, ArgKind::InOut) { "as_mut_ptr" } else { "as_ptr" };
            vec![(format!("{} {elem}", ptr(kind)), format!("{a}.{as_ptr}()")), ("usize".into(), format!("{a}.len()"))]
        }
        ParamType::Array { elem, len, kind, raw: false } => {
            vec![(format!("{} [{elem}; {len}]", ptr(kind)), format!("{}{a}", take(kind)))]
        }
        ParamType::Array { elem, len, kind, raw: true } => vec![(format!("{} [{elem}; {len}]", ptr(kind)), a.into())],
        ParamType::Pointer { elem, kind } => vec![(format!("{} {elem}", ptr(kind)), a.into())],
        ParamType::Ref { elem, kind } => vec![(format!("{} {elem}", ptr(kind)), format!("{}{a}", take(kind)))],
    }
}

/// A reverse-mode shadow's type: the parameter's, made mutable (std's `assure_mut_ref`).
fn mutable(ty: &ParamType) -> ParamType {
    let mut ty = ty.clone();
    match &mut ty {
        ParamType::Slice { kind, .. } | ParamType::Array { kind, .. } | ParamType::Pointer { kind, .. }
        | ParamType::Ref { kind, .. } => *kind = ArgKind::InOut,
        ParamType::Scalar(_) => {}
    }
    ty
}

/// The same made mutable in the user's own spelling (`&'a [f64]` → `&'a mut [f64]`, `*const T` → `*mut T`).
fn mutable_text(ty: &str) -> String {
    let t = ty.trim();
    if let Some(rest) = t.strip_prefix("*") {
        let rest = rest.trim_start();
        return format!("*mut {}", rest.strip_prefix("const").or_else(|| rest.strip_prefix("mut")).unwrap_or(rest).trim_start());
    }
    if let Some(rest) = t.strip_prefix('&') {
        let rest = rest.trim_start();
        let (life, rest) = match rest.strip_prefix('\'') {
            Some(r) => {
                let end = r.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(r.len());
                (format!("'{} ", &r[..end]), r[end..].trim_start())
            }
            None => (String::new(), rest),
        };
        let rest = rest.strip_prefix("mut ").map(str::trim_start).unwrap_or(rest);
        return format!("&{life}mut {rest}");
    }
    t.to_string()
}

fn tuple(items: &[String]) -> String {
    format!("({})", items.join(", "))
}

pub fn expand(mode: Mode, attr_ts: TokenStream, item: TokenStream) -> TokenStream {
    crate::record_marked();
    let parsed = attr(mode, attr_ts).and_then(|a| {
        let f = function(mode, item.clone())?;
        check(mode, &a, &f)?;
        Ok((a, f))
    });
    let (a, f) = match parsed {
        Ok(x) => x,
        Err((span, msg)) => {
            let mut out = crate::error(span, &msg);
            out.extend(item);
            return out;
        }
    };
    let mut out = item;
    out.extend(derivative(mode, &a, &f));
    out
}

fn derivative(mode: Mode, a: &Attr, f: &Function) -> TokenStream {
    let d_name = crate::plain_name(&a.name);
    let primal = crate::plain_name(&f.name);
    let primal_call = f.name.to_string(); // `r#match` stays raw in code
    let span = a.name.span();
    let unique = crate::unique_key(&d_name, span);
    let grad = format!("{}{unique}", abi::GRAD_PREFIX);
    let primal_entry = format!("{}{unique}", abi::PRIMAL_PREFIX);
    let marker_sym = format!("{}{KIND}_{unique}", abi::MARKER_PREFIX);
    let width = a.width as usize;
    let ret_act = if f.ret.is_some() { a.acts.last().map_or(Act::Const, |x| x.act) } else { Act::Const };
    let is_rev = mode == Mode::Reverse;

    // the derivative's parameters, and what goes to the grad entry
    let mut d_params: Vec<String> = Vec::new();
    let mut flats: Vec<(String, String)> = Vec::new();
    let mut checks: Vec<String> = Vec::new();
    let mut grads: Vec<(usize, String)> = Vec::new();
    let mut unsafe_acts = false;
    for (i, (p, x)) in f.params.iter().zip(&a.acts).enumerate() {
        let name = p.name.to_string();
        let plain = crate::plain_name(&p.name);
        d_params.push(format!("{name}: {}", p.ty_text));
        flats.extend(flat(&p.ty, &name));
        unsafe_acts |= matches!(x.act, Act::DuplicatedOnly | Act::DualOnly);
        if x.act == Act::Active {
            grads.push((i, float_of(&p.ty).unwrap_or("f64").to_string()));
        }
        if !x.act.shadowed() {
            continue;
        }
        let (prefix, n, ty, text) = if is_rev {
            ("d", 1, mutable(&p.ty), mutable_text(&p.ty_text))
        } else {
            ("b", width, p.ty.clone(), p.ty_text.clone())
        };
        for w in 0..n {
            let shadow = format!("{prefix}{plain}_{w}");
            d_params.push(format!("{shadow}: {text}"));
            flats.extend(flat(&ty, &shadow));
            if matches!(p.ty, ParamType::Slice { .. }) {
                checks.push(format!(
                    "::core::assert!({shadow}.len() == {name}.len(), \"`{d_name}`: the shadow `{shadow}` has length \
                     {{}} but `{plain}` has length {{}}: a shadow has its primal's length\", {shadow}.len(), {name}.len());"));
            }
        }
    }
    let ret_ty = f.ret.clone().unwrap_or_default();
    if is_rev && matches!(ret_act, Act::Active | Act::ActiveOnly) {
        d_params.push(format!("dret: {ret_ty}"));
        flats.push((ret_ty.clone(), "dret".into()));
    }

    // result slots, and the derivative's return type and value (std's packing)
    let mut slots: Vec<String> = Vec::new(); // `let mut` statements
    let slot = |slots: &mut Vec<String>, flats: &mut Vec<(String, String)>, var: &str, ty: &str| {
        let store = if ty == "bool" { "u8" } else { ty };
        slots.push(format!("let mut {var}: {store} = ::core::default::Default::default();"));
        flats.push((format!("*mut {store}"), format!("&raw mut {var}")));
    };
    let ret_val = if ret_ty == "bool" { "__cargo_mlir_ret != 0" } else { "__cargo_mlir_ret" };
    let (d_ret, d_val): (Option<String>, String) = if is_rev {
        if f.ret.is_some() && ret_act != Act::ActiveOnly {
            slot(&mut slots, &mut flats, "__cargo_mlir_ret", &ret_ty);
        }
        for (i, ty) in &grads {
            slot(&mut slots, &mut flats, &format!("__cargo_mlir_g{i}"), ty);
        }
        let base: Option<(String, String)> = match (&f.ret, ret_act) {
            (Some(_), Act::ActiveOnly) => None,
            (Some(r), _) => Some((r.clone(), ret_val.to_string())),
            (None, _) if f.unit_ret => Some(("()".into(), "()".into())),
            (None, _) => None,
        };
        let g_tys: Vec<String> = grads.iter().map(|(_, t)| t.clone()).collect();
        let g_vals: Vec<String> = grads.iter().map(|(i, _)| format!("__cargo_mlir_g{i}")).collect();
        match (base, grads.len()) {
            (base, 0) => (base.as_ref().map(|b| b.0.clone()), base.map_or("()".into(), |b| b.1)),
            (Some((t, v)), _) => {
                let mut tys = vec![t];
                tys.extend(g_tys);
                let mut vals = vec![v];
                vals.extend(g_vals);
                (Some(tuple(&tys)), tuple(&vals))
            }
            (None, 1) => (Some(g_tys[0].clone()), g_vals[0].clone()),
            (None, _) => (Some(tuple(&g_tys)), tuple(&g_vals)),
        }
    } else {
        if f.ret.is_some() && matches!(ret_act, Act::Const | Act::Dual) {
            slot(&mut slots, &mut flats, "__cargo_mlir_ret", &ret_ty);
        }
        let tangents: Vec<String> = if matches!(ret_act, Act::Dual | Act::DualOnly) {
            (0..width).map(|w| format!("__cargo_mlir_t{w}")).collect()
        } else {
            Vec::new()
        };
        for t in &tangents {
            slot(&mut slots, &mut flats, t, &ret_ty);
        }
        match ret_act {
            Act::Dual if width == 1 => (Some(tuple(&[ret_ty.clone(), ret_ty.clone()])),
                                        tuple(&[ret_val.to_string(), tangents[0].clone()])),
            Act::Dual => {
                let mut vals = vec![ret_val.to_string()];
                vals.extend(tangents.iter().cloned());
                (Some(format!("[{ret_ty}; {}]", width + 1)), format!("[{}]", vals.join(", ")))
            }
            Act::DualOnly if width == 1 => (Some(ret_ty.clone()), tangents[0].clone()),
            Act::DualOnly => (Some(format!("[{ret_ty}; {width}]")), format!("[{}]", tangents.join(", "))),
            _ if f.ret.is_some() => (Some(ret_ty.clone()), ret_val.to_string()),
            _ => (Some("()".into()), "()".into()),
        }
    };

    // the primal entry: the primal's flattened parameters
    let mut entry_params = Vec::new();
    let mut entry_call = Vec::new();
    for (i, p) in f.params.iter().enumerate() {
        let (decl, call) = p.ty.entry_param(i);
        entry_params.push(decl);
        entry_call.push(call);
    }
    let (entry_ret, w0, w1) = match f.ret.as_deref() {
        None => (String::new(), "", ""),
        Some("bool") => (" -> u8".to_string(), "(", ") as u8"),
        Some(s) => (format!(" -> {s}"), "", ""),
    };
    let sig: Vec<String> = f.params.iter().map(|p| p.ty.signature()).collect();
    let mut flags = vec![mode.flag().to_string(), width.to_string(), primal.clone()];
    flags.extend(a.acts.iter().take(f.params.len()).map(|x| x.act.name().to_string()));
    flags.push(ret_act.name().to_string());
    let marker = format!("{};{KIND};{d_name};{grad};{};{};{};{}:{}\0", abi::MARKER_MAGIC, sig.join(","),
                         f.ret.clone().unwrap_or_default(), flags.join(","), span.file(), span.line());

    let grad_params: Vec<String> = flats.iter().enumerate().map(|(k, (t, _))| format!("mut __p{k}: {t}")).collect();
    let grad_ptrs: Vec<String> = (0..flats.len()).map(|k| format!("(&raw mut __p{k}).cast::<::core::ffi::c_void>()")).collect();
    let grad_args: Vec<String> = flats.iter().map(|(_, e)| e.clone()).collect();
    let attr_name = match mode { Mode::Forward => "autodiff_forward", Mode::Reverse => "autodiff_reverse" };

    let body = format!(r#"
        #[doc(hidden)]
        #[allow(non_snake_case, unused_unsafe, unsafe_code, clippy::all)]
        #[unsafe(no_mangle)]
        pub extern "C" fn {primal_entry}({entry_params}){entry_ret} {{
            unsafe {{ {w0}{primal_call}({entry_call}){w1} }}
        }}

        #[doc(hidden)]
        #[allow(non_snake_case, unsafe_code, clippy::all)]
        #[unsafe(no_mangle)]
        #[inline(never)]
        pub extern "C-unwind" fn {grad}({grad_params}) -> u8 {{
            static __CARGO_MLIR_GRAD: ::cargo_mlir::runtime::Accelerated =
                ::cargo_mlir::runtime::Accelerated::derivative("{grad}", "{d_name}");
            let mut __cargo_mlir_params: [*mut ::core::ffi::c_void; {nflat}] = [{grad_ptrs}];
            // SAFETY: the parameters point at this call's flat parameters, the layout the
            // pipeline compiled the direct entry for; the derivative returns nothing through `ret`
            let __cargo_mlir_ran = unsafe {{
                __CARGO_MLIR_GRAD.run(&mut __cargo_mlir_params, ::core::ptr::null_mut())
            }};
            u8::from(__cargo_mlir_ran)
        }}

        #[doc(hidden)]
        #[used]
        #[unsafe(no_mangle)]
        #[allow(non_upper_case_globals, unsafe_code)]
        static {marker_sym}: [u8; {marker_len}] = *{marker_lit};

        {unit_dep}

        {checks}
        {slots}
        if {grad}({grad_args}) == 0 {{
            ::cargo_mlir::autodiff::__not_built("{d_name}", "{primal}", "{attr_name}");
        }}
        {d_val}
    "#,
        entry_params = entry_params.join(", "), entry_call = entry_call.join(", "),
        grad_params = grad_params.join(", "), nflat = flats.len(), grad_ptrs = grad_ptrs.join(", "),
        marker_len = marker.len(), marker_lit = Literal::byte_string(marker.as_bytes()),
        unit_dep = crate::unit_dep(), checks = checks.join("\n        "), slots = slots.join("\n        "),
        grad_args = grad_args.join(", "));

    let mut out: Vec<TokenTree> = Vec::new();
    out.extend(crate::code("#[allow(clippy::too_many_arguments, clippy::type_complexity, clippy::let_unit_value)]"));
    out.extend(f.vis.iter().cloned());
    if f.is_unsafe || unsafe_acts {
        out.push(Ident::new("unsafe", Span::call_site()).into());
    }
    out.push(Ident::new("fn", Span::call_site()).into());
    out.push(a.name.clone().into());
    let ret = d_ret.map(|r| format!(" -> {r}")).unwrap_or_default();
    out.extend(crate::code(&format!("{}({}){ret} {{ {body} }}", f.generics, d_params.join(", "))));
    out.into_iter().collect()
}
