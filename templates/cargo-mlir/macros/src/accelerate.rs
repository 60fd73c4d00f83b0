//! `#[accelerate]`, `#[accelerate(exact)]`, `#[accelerate(reassociate)]` on a
//! free host function. The function keeps its name, attributes and signature;
//! its body becomes:
//!
//! ```text
//! fn __cargo_mlir_body_<name>(<the original parameters>) -> RET <the original body>
//! #[unsafe(no_mangle)] pub extern "C" fn __cargo_mlir_accel_<unique>(<flattened>) -> RET { body(…) }
//! #[used] #[unsafe(no_mangle)] static __cargo_mlir_marker_accelerate_<unique>: [u8; _] = *b"cargo-mlir-marker/2;accelerate;…";
//! static __CARGO_MLIR_ACCEL: Accelerated = Accelerated::new("__cargo_mlir_accel_<unique>", "<name>");
//! { flatten the arguments into params; if __CARGO_MLIR_ACCEL.run(&mut params, &mut ret) { return ret } }
//! __cargo_mlir_body_<name>(<the arguments>)
//! ```
//!
//! so a plain `cargo build`, or a call the pipeline's code declines, runs the
//! Rust body: panics happen in ordinary Rust code.

use proc_macro::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};

use crate::abi;
use crate::parse::{self, ParamType, Site, SCALARS};

pub const SUPPORTED: &str = "an #[accelerate] function takes f32, f64, i32, u32, i64, u64, usize, isize, bool, \
                             &[T], &mut [T], &[T; N], &mut [T; N], *const T, *mut T (T one of those scalars) \
                             and returns () or one of those scalars";
const RETURNS: &str = "an #[accelerate] function returns () or one scalar: f32, f64, i32, u32, i64, u64, usize, isize, bool";
const OPTIONS: &str = "#[accelerate] takes no option, `exact` (no FMA contraction: bit-identical results) \
                       or `reassociate` (chains of matrix products may be re-associated)";

type Error = (Span, String);

struct Param {
    /// the name the visible function gives it (the user's, when the pattern is one)
    name: TokenTree,
    ty: ParamType,
}

struct Function {
    toks: Vec<TokenTree>,
    params_at: usize,
    params_span: Span,
    /// the parameters as the visible function writes them
    visible_params: Vec<TokenTree>,
    body_at: usize,
    ret: Option<String>,
    name: Ident,
    is_unsafe: bool,
    params: Vec<Param>,
}

pub fn options(attr: TokenStream) -> Result<Option<String>, Error> {
    let mut flag: Option<(String, Span)> = None;
    for part in parse::split_commas(attr) {
        let [TokenTree::Ident(id)] = part.as_slice() else {
            return Err((part[0].span(), format!("unknown #[accelerate] option `{}`; {OPTIONS}",
                                                parse::type_text(&part))));
        };
        let text = id.to_string();
        if !abi::ACCELERATE_FLAGS.contains(&text.as_str()) {
            return Err((id.span(), format!("unknown #[accelerate] option `{text}`; {OPTIONS}")));
        }
        if let Some((first, _)) = &flag {
            return Err((id.span(), format!("#[accelerate] takes one option, not both `{first}` and `{text}`; {OPTIONS}")));
        }
        flag = Some((text, id.span()));
    }
    Ok(flag.map(|(f, _)| f))
}

fn is_ident(t: &TokenTree, s: &str) -> bool {
    matches!(t, TokenTree::Ident(i) if i.to_string() == s)
}

fn is_punct(t: &TokenTree, c: char) -> bool {
    matches!(t, TokenTree::Punct(p) if p.as_char() == c)
}

fn function(item: TokenStream) -> Result<Function, Error> {
    let toks: Vec<TokenTree> = item.into_iter().collect();
    let mut i = 0;
    let mut is_unsafe = false;
    while i < toks.len() && !is_ident(&toks[i], "fn") {
        match &toks[i] {
            TokenTree::Punct(p) if p.as_char() == '#' => i += 1, // attribute: `#` then `[...]`
            TokenTree::Ident(id) if id.to_string() == "unsafe" => is_unsafe = true,
            TokenTree::Ident(id) if ["async", "const", "extern"].contains(&id.to_string().as_str()) => {
                return Err((id.span(), format!("an #[accelerate] function cannot be `{id}`: it is an ordinary \
                                                (optionally `unsafe`) Rust function")));
            }
            _ => {}
        }
        i += 1;
    }
    let fn_span = toks.get(i).map(|t| t.span()).unwrap_or_else(Span::call_site);
    let Some(TokenTree::Ident(name)) = toks.get(i + 1).cloned() else {
        return Err((fn_span, "#[accelerate] goes on a free function: `fn name(args) -> ret { … }`".into()));
    };
    let params_at = i + 2;
    let params_group = match toks.get(params_at) {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis => g.clone(),
        Some(t) if is_punct(t, '<') => {
            return Err((t.span(), format!("an #[accelerate] function cannot be generic: give every argument a \
                                           concrete type; {SUPPORTED}")))
        }
        _ => return Err((name.span(), "expected the function's argument list".into())),
    };
    // `-> RET`, then the body
    let mut k = params_at + 1;
    let mut ret = None;
    if toks.get(k).is_some_and(|t| is_punct(t, '-')) && toks.get(k + 1).is_some_and(|t| is_punct(t, '>')) {
        let ty = toks.get(k + 2);
        match ty {
            Some(TokenTree::Ident(s)) if SCALARS.contains(&s.to_string().as_str()) => ret = Some(s.to_string()),
            Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis && g.stream().is_empty() => {}
            Some(t) => {
                let end = toks[k + 2..].iter().position(|t| matches!(t, TokenTree::Group(g) if g.delimiter() == Delimiter::Brace))
                    .map_or(toks.len(), |e| k + 2 + e);
                return Err((t.span(), format!("unsupported #[accelerate] return type `{}`; {RETURNS}",
                                              parse::type_text(&toks[k + 2..end]))));
            }
            None => return Err((toks[k].span(), RETURNS.into())),
        }
        k += 3;
    }
    match toks.get(k) {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace && k + 1 == toks.len() => {
            if let Some(span) = uses_self_type(g.stream()) {
                return Err((span, "#[accelerate] goes on free functions, not on associated functions \
                                   (this body names `Self`)".into()));
            }
        }
        Some(t) if is_ident(t, "where") => {
            return Err((t.span(), format!("an #[accelerate] function cannot have a `where` clause; {SUPPORTED}")))
        }
        Some(t) => return Err((t.span(), format!("unsupported #[accelerate] return type; {RETURNS}"))),
        None => return Err((name.span(), "an #[accelerate] function needs a body".into())),
    }
    let mut params = Vec::new();
    let mut visible_params: Vec<TokenTree> = Vec::new();
    for (n, part) in parse::split_commas(params_group.stream()).into_iter().enumerate() {
        if part.first().is_some_and(|t| is_ident(t, "self"))
            || (part.len() >= 2 && is_punct(&part[0], '&') && part[1..].iter().any(|t| is_ident(t, "self")))
        {
            return Err((part[0].span(), "#[accelerate] goes on free functions, not methods (`self`)".into()));
        }
        let (colon, ty) = parse::param_type(&part, Site::Accelerate)?;
        // the visible function binds the argument by the user's name when the
        // pattern is one (`x` or `mut x`), else by a fresh one
        let name: TokenTree = match &part[..colon] {
            [TokenTree::Ident(x)] | [TokenTree::Ident(_), TokenTree::Ident(x)]
                if x.to_string() != "_" && (colon == 1 || is_ident(&part[0], "mut")) => x.clone().into(),
            _ => Ident::new(&format!("__cargo_mlir_a{n}"), Span::call_site()).into(),
        };
        visible_params.push(name.clone());
        visible_params.extend(part[colon..].iter().cloned());
        visible_params.push(Punct::new(',', Spacing::Alone).into());
        params.push(Param { name, ty });
    }
    Ok(Function { params_span: params_group.span(), toks, params_at, visible_params, body_at: k, ret,
                  name, is_unsafe, params })
}

/// Where a body names `Self` (outside its own `impl`/`trait` blocks): the
/// function is an associated function, and its body cannot move into a
/// nested function.
fn uses_self_type(body: TokenStream) -> Option<Span> {
    let mut skip_block = false;
    for t in body {
        match &t {
            TokenTree::Ident(i) if i.to_string() == "Self" && !skip_block => return Some(i.span()),
            TokenTree::Ident(i) if i.to_string() == "impl" || i.to_string() == "trait" => skip_block = true,
            TokenTree::Group(g) if g.delimiter() == Delimiter::Brace && skip_block => skip_block = false,
            TokenTree::Group(g) if !skip_block => {
                if let Some(span) = uses_self_type(g.stream()) {
                    return Some(span);
                }
            }
            _ => {}
        }
    }
    None
}

pub fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    crate::record_marked();
    let parsed = options(attr).and_then(|flag| Ok((flag, function(item.clone())?)));
    let (flag, f) = match parsed {
        Ok(x) => x,
        Err((span, msg)) => {
            let mut out = crate::error(span, &msg);
            out.extend(item);
            return out;
        }
    };
    let name = crate::plain_name(&f.name); // in symbols and markers
    let span = f.name.span();
    let unique = crate::unique_key(&name, span);
    let entry = format!("{}{unique}", abi::ACCEL_PREFIX);
    let body_fn = format!("__cargo_mlir_body_{name}");

    let mut entry_params = Vec::new();
    let mut entry_call = Vec::new();
    let mut flatten = Vec::new();
    let mut flat = Vec::new();
    let mut sig = Vec::new();
    for (i, p) in f.params.iter().enumerate() {
        let a = p.name.to_string();
        let v = format!("__cargo_mlir_f{i}");
        sig.push(p.ty.signature());
        let (decl, call) = p.ty.entry_param(i);
        entry_params.push(decl);
        entry_call.push(call);
        let (stmts, locals) = p.ty.flatten(&a, &v);
        flatten.push(stmts);
        flat.extend(locals);
    }
    let ret = f.ret.clone().unwrap_or_default();
    let marker = format!("{};accelerate;{name};{entry};{};{ret};{};{}:{}\0", abi::MARKER_MAGIC, sig.join(","),
                         flag.clone().unwrap_or_default(), span.file(), span.line());
    let marker_sym = format!("{}accelerate_{unique}", abi::MARKER_PREFIX);
    // the C entry returns a `bool` as a `u8`, as it takes one
    let (entry_ret, entry_wrap) = match f.ret.as_deref() {
        None => (String::new(), ("", "")),
        Some("bool") => (" -> u8".to_string(), ("(", ") as u8")),
        Some(s) => (format!(" -> {s}"), ("", "")),
    };
    let (ret_decl, ret_ptr, ret_val) = match f.ret.as_deref() {
        None => (String::new(), "::core::ptr::null_mut()".to_string(), String::new()),
        Some("bool") => ("let mut __cargo_mlir_ret: u8 = 0;".to_string(),
                         "&mut __cargo_mlir_ret as *mut u8 as *mut ::core::ffi::c_void".to_string(),
                         "__cargo_mlir_ret != 0".to_string()),
        Some(s) => (format!("let mut __cargo_mlir_ret: {s} = ::core::default::Default::default();"),
                    format!("&mut __cargo_mlir_ret as *mut {s} as *mut ::core::ffi::c_void"),
                    "__cargo_mlir_ret".to_string()),
    };
    let ptrs: Vec<String> = flat.iter().map(|v| format!("&mut {v} as *mut _ as *mut ::core::ffi::c_void")).collect();
    let args: Vec<String> = f.params.iter().map(|p| p.name.to_string()).collect();

    // the hidden body: `fn __cargo_mlir_body_<name>` + the user's own tokens
    let mut body: Vec<TokenTree> = Vec::new();
    if f.is_unsafe {
        body.push(Ident::new("unsafe", Span::call_site()).into());
    }
    body.push(Ident::new("fn", Span::call_site()).into());
    body.push(Ident::new(&body_fn, span).into());
    body.extend(f.toks[f.params_at..].iter().cloned()); // (params) -> RET { body }

    let items = format!(r#"
        #[doc(hidden)]
        #[allow(non_snake_case, unused_unsafe, unsafe_code, clippy::all)]
        #[unsafe(no_mangle)]
        pub extern "C" fn {entry}({entry_params}){entry_ret} {{
            unsafe {{ {w0}{body_fn}({entry_call}){w1} }}
        }}

        #[doc(hidden)]
        #[used]
        #[unsafe(no_mangle)]
        #[allow(non_upper_case_globals, unsafe_code)]
        static {marker_sym}: [u8; {marker_len}] = *{marker_lit};

        {unit_dep}

        static __CARGO_MLIR_ACCEL: ::cargo_mlir::runtime::Accelerated =
            ::cargo_mlir::runtime::Accelerated::new("{entry}", "{name}");

        {{
            {flatten}
            let mut __cargo_mlir_params: [*mut ::core::ffi::c_void; {nflat}] = [{ptrs}];
            {ret_decl}
            // SAFETY: the parameters point at this call's flattened arguments
            #[allow(unsafe_code, unused_unsafe)]
            let __cargo_mlir_ran = unsafe {{ __CARGO_MLIR_ACCEL.run(&mut __cargo_mlir_params, {ret_ptr}) }};
            if __cargo_mlir_ran {{
                return {ret_val};
            }}
        }}
    "#,
        entry_params = entry_params.join(", "), entry_call = entry_call.join(", "),
        w0 = entry_wrap.0, w1 = entry_wrap.1,
        marker_len = marker.len(), marker_lit = Literal::byte_string(marker.as_bytes()),
        unit_dep = crate::unit_dep(), flatten = flatten.join("\n            "),
        nflat = ptrs.len(), ptrs = ptrs.join(", "));
    let call = if f.is_unsafe {
        format!("#[allow(unused_unsafe)] let __cargo_mlir_r = unsafe {{ {body_fn}({}) }}; __cargo_mlir_r", args.join(", "))
    } else {
        format!("{body_fn}({})", args.join(", "))
    };

    let mut new_body: Vec<TokenTree> = body;
    new_body.extend(crate::code(&items));
    new_body.extend(crate::code(&call));
    let body_span = f.toks[f.body_at].span();
    let mut new_body = Group::new(Delimiter::Brace, new_body.into_iter().collect());
    new_body.set_span(body_span);

    // the visible function: the user's tokens, parameters bound by name, the new body
    let mut out: Vec<TokenTree> = f.toks[..f.params_at].to_vec();
    let mut params = Group::new(Delimiter::Parenthesis, f.visible_params.iter().cloned().collect());
    params.set_span(f.params_span);
    out.push(params.into());
    out.extend(f.toks[f.params_at + 1..f.body_at].iter().cloned());
    out.push(new_body.into());
    out.into_iter().collect()
}
