//! Just enough of Rust's grammar for kernel signatures, on `proc_macro` tokens.

use proc_macro::{Delimiter, Group, Ident, Spacing, Span, TokenStream, TokenTree};

pub type Error = (Span, String);

pub const SCALARS: [&str; 9] = ["f32", "f64", "i32", "u32", "i64", "u64", "usize", "isize", "bool"];
const SUPPORTED: &str = "supported kernel argument types: f32, f64, i32, u32, i64, u64, usize, isize, bool, \
                         &[T], &mut [T], &[T; N], &mut [T; N], *const T, *mut T, *const [T; N], *mut [T; N] \
                         (T one of those scalars)";

/// Which function a signature belongs to: what it may take, and how errors name it.
#[derive(Clone, Copy)]
pub enum Site { Kernel, Accelerate, Autodiff }

#[derive(Clone, Copy)]
pub enum ArgKind { In, InOut }

#[derive(Clone)]
pub enum ParamType {
    Scalar(String),
    Slice { elem: String, kind: ArgKind },
    /// `&[T; N]` / `&mut [T; N]`, or (`raw`, kernels only) `*const [T; N]` / `*mut [T; N]`
    Array { elem: String, len: String, kind: ArgKind, raw: bool },
    /// `*const T` / `*mut T`: one pointer
    Pointer { elem: String, kind: ArgKind },
    /// `&T` / `&mut T` (T a scalar; autodiff only): one pointer
    Ref { elem: String, kind: ArgKind },
}

impl ParamType {
    /// As written in the marker the pipeline reads.
    pub fn signature(&self) -> String {
        match self {
            ParamType::Scalar(s) => s.clone(),
            ParamType::Slice { elem, kind: ArgKind::In } => format!("&[{elem}]"),
            ParamType::Slice { elem, kind: ArgKind::InOut } => format!("&mut [{elem}]"),
            ParamType::Array { elem, len, kind: ArgKind::In, raw: false } => format!("&[{elem}; {len}]"),
            ParamType::Array { elem, len, kind: ArgKind::InOut, raw: false } => format!("&mut [{elem}; {len}]"),
            ParamType::Array { elem, len, kind: ArgKind::In, raw: true } => format!("*const [{elem}; {len}]"),
            ParamType::Array { elem, len, kind: ArgKind::InOut, raw: true } => format!("*mut [{elem}; {len}]"),
            ParamType::Pointer { elem, kind: ArgKind::In } => format!("*const {elem}"),
            ParamType::Pointer { elem, kind: ArgKind::InOut } => format!("*mut {elem}"),
            ParamType::Ref { elem, kind: ArgKind::In } => format!("&{elem}"),
            ParamType::Ref { elem, kind: ArgKind::InOut } => format!("&mut {elem}"),
        }
    }

    /// Parameter `i` of the C entry the pipeline compiles (a slice is pointer
    /// and length, a bool a `u8`), and the expression that gives the Rust
    /// function its argument back.
    pub fn entry_param(&self, i: usize) -> (String, String) {
        match self {
            ParamType::Scalar(s) if s == "bool" => (format!("__p{i}: u8"), format!("__p{i} != 0")),
            ParamType::Scalar(s) => (format!("__p{i}: {s}"), format!("__p{i}")),
            ParamType::Slice { elem, kind } => {
                let (ptr, from) = match kind {
                    ArgKind::In => ("*const", "from_raw_parts"),
                    ArgKind::InOut => ("*mut", "from_raw_parts_mut"),
                };
                (format!("__p{i}: {ptr} {elem}, __p{i}_len: usize"),
                 format!("::core::slice::{from}(__p{i}, __p{i}_len)"))
            }
            ParamType::Array { elem, len, kind, raw } => {
                let (ptr, reff) = match kind { ArgKind::In => ("*const", "&"), ArgKind::InOut => ("*mut", "&mut ") };
                if *raw {
                    return (format!("__p{i}: {ptr} [{elem}; {len}]"), format!("__p{i}"));
                }
                (format!("__p{i}: {ptr} [{elem}; {len}]"), format!("{reff}*__p{i}"))
            }
            ParamType::Pointer { elem, kind } => {
                let ptr = if matches!(kind, ArgKind::InOut) { "*mut" } else { "*const" };
                (format!("__p{i}: {ptr} {elem}"), format!("__p{i}"))
            }
            ParamType::Ref { elem, kind } => {
                let (ptr, reff) = match kind { ArgKind::In => ("*const", "&"), ArgKind::InOut => ("*mut", "&mut ") };
                (format!("__p{i}: {ptr} {elem}"), format!("{reff}*__p{i}"))
            }
        }
    }

    /// `let` statements that flatten argument `a` into mutable locals `v`
    /// (and `v_len` for a slice), whose addresses the runtime passes as the
    /// entry's parameters; and the names of those locals, in order.
    pub fn flatten(&self, a: &str, v: &str) -> (String, Vec<String>) {
        match self {
            ParamType::Scalar(s) if s == "bool" => (format!("let mut {v}: u8 = {a} as u8;"), vec![v.to_string()]),
            ParamType::Scalar(s) => (format!("let mut {v}: {s} = {a};"), vec![v.to_string()]),
            ParamType::Slice { elem, kind } => {
                let (ptr, as_ptr) = match kind {
                    ArgKind::In => ("*const", "as_ptr"),
                    ArgKind::InOut => ("*mut", "as_mut_ptr"),
                };
                (format!("let mut {v}: {ptr} {elem} = {a}.{as_ptr}(); let mut {v}_len: usize = {a}.len();"),
                 vec![v.to_string(), format!("{v}_len")])
            }
            ParamType::Array { elem, len, kind, raw } => {
                let (ptr, take) = match kind {
                    ArgKind::In => ("*const", "&raw const *"),
                    ArgKind::InOut => ("*mut", "&raw mut *"),
                };
                let take = if *raw { "" } else { take };
                (format!("let mut {v}: {ptr} [{elem}; {len}] = {take}{a};"), vec![v.to_string()])
            }
            ParamType::Pointer { elem, kind } => {
                let ptr = if matches!(kind, ArgKind::InOut) { "*mut" } else { "*const" };
                (format!("let mut {v}: {ptr} {elem} = {a};"), vec![v.to_string()])
            }
            ParamType::Ref { elem, kind } => {
                let (ptr, take) = match kind {
                    ArgKind::In => ("*const", "&raw const *"),
                    ArgKind::InOut => ("*mut", "&raw mut *"),
                };
                (format!("let mut {v}: {ptr} {elem} = {take}{a};"), vec![v.to_string()])
            }
        }
    }
}

pub struct Param {
    pub ty: ParamType,
}

pub struct Kernel {
    pub vis: String,
    pub name: Ident,
    pub params: Vec<Param>,
    pub file: String,
    pub line: usize,
    /// the body names `gpu::barrier` or workgroup memory (`abi::WORKGROUP_NAMES`):
    /// the host runs each workgroup's threads at once
    pub workgroups: bool,
}

fn is_punct(t: &TokenTree, c: char) -> bool {
    matches!(t, TokenTree::Punct(p) if p.as_char() == c)
}

fn is_ident(t: &TokenTree, s: &str) -> bool {
    matches!(t, TokenTree::Ident(i) if i.to_string() == s)
}

/// Split on commas outside groups (and outside `<...>` of turbofish paths).
pub fn split_commas(ts: TokenStream) -> Vec<Vec<TokenTree>> {
    let mut parts = vec![Vec::new()];
    let mut angle = 0i32;
    for t in ts {
        match &t {
            TokenTree::Punct(p) if p.as_char() == '<' => angle += 1,
            TokenTree::Punct(p) if p.as_char() == '>' && angle > 0 => angle -= 1,
            TokenTree::Punct(p) if p.as_char() == ',' && angle == 0 => {
                parts.push(Vec::new());
                continue;
            }
            _ => {}
        }
        parts.last_mut().unwrap().push(t);
    }
    parts.retain(|p| !p.is_empty());
    parts
}

pub fn kernel(item: TokenStream) -> Result<Kernel, Error> {
    let toks: Vec<TokenTree> = item.into_iter().collect();
    let mut i = 0;
    let mut vis = String::new();
    while i < toks.len() && !is_ident(&toks[i], "fn") {
        match &toks[i] {
            TokenTree::Punct(p) if p.as_char() == '#' => i += 1, // attribute: `#` then `[...]`
            TokenTree::Ident(id) if id.to_string() == "pub" => {
                vis.push_str("pub");
                if let Some(TokenTree::Group(g)) = toks.get(i + 1) {
                    if g.delimiter() == Delimiter::Parenthesis {
                        vis.push_str(&g.to_string());
                        i += 1;
                    }
                }
            }
            TokenTree::Ident(id) if ["async", "const", "extern", "unsafe"].contains(&id.to_string().as_str()) => {
                return Err((id.span(), format!("an #[offload_kernel] function cannot be `{id}`")));
            }
            _ => {}
        }
        i += 1;
    }
    let fn_span = toks.get(i).map(|t| t.span()).unwrap_or_else(Span::call_site);
    let Some(TokenTree::Ident(name)) = toks.get(i + 1) else {
        return Err((fn_span, "#[offload_kernel] goes on a function: `fn name(args) { … }`".into()));
    };
    // lifetime parameters (`<'a, 'b: 'a>`) are fine; type and const parameters are not
    let mut at = i + 2;
    if toks.get(at).is_some_and(|t| is_punct(t, '<')) {
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
                other => return Err((other.span(), "kernels cannot be generic (lifetime parameters are fine): \
                                                    give every argument a concrete type".into())),
            }
            at += 1;
        }
    }
    let params_group = match toks.get(at) {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis => g.clone(),
        _ => return Err((name.span(), "expected the kernel's argument list".into())),
    };
    let free_only = "#[offload_kernel] goes on free functions, not on methods or associated functions \
                     (`impl`/`trait` items): move the kernel out of the `impl` block";
    for part in split_commas(params_group.stream()) {
        let is_self = |t: &TokenTree| is_ident(t, "self");
        let receiver = part.first().is_some_and(is_self)
            || (part.first().is_some_and(|t| is_punct(t, '&')) && part.iter().take(4).any(is_self))
            || (part.first().is_some_and(|t| is_ident(t, "mut")) && part.get(1).is_some_and(is_self));
        if receiver {
            return Err((fn_span, free_only.into()));
        }
    }
    if toks[at..].iter().any(uses_self_type) {
        return Err((fn_span, free_only.into()));
    }
    if let Some(t) = toks.get(at + 1) {
        if is_punct(t, '-') {
            return Err((t.span(), "a kernel returns nothing: write its results into a `&mut` slice argument".into()));
        }
        if is_ident(t, "where") {
            return Err((t.span(), "kernels cannot have `where` clauses".into()));
        }
    }
    let mut params = Vec::new();
    for part in split_commas(params_group.stream()) {
        params.push(Param { ty: param_type(&part, Site::Kernel)?.1 });
    }
    let span = name.span();
    let workgroups = toks[at + 1..].iter().any(names_workgroup_api);
    Ok(Kernel { vis, name: name.clone(), params, file: span.file(), line: span.line(), workgroups })
}

/// Whether these tokens name a function of `abi::WORKGROUP_NAMES` (a barrier,
/// the workgroup memory), at any depth.
fn names_workgroup_api(t: &TokenTree) -> bool {
    match t {
        TokenTree::Ident(i) => crate::abi::WORKGROUP_NAMES.contains(&i.to_string().as_str()),
        TokenTree::Group(g) => g.stream().into_iter().any(|t| names_workgroup_api(&t)),
        _ => false,
    }
}

/// Whether `Self` occurs in these tokens (outside nested `impl`/`trait` blocks):
/// the function is an associated one.
fn uses_self_type(t: &TokenTree) -> bool {
    match t {
        TokenTree::Ident(i) => i.to_string() == "Self",
        TokenTree::Group(g) => {
            let mut skip = false;
            for t in g.stream() {
                match &t {
                    TokenTree::Ident(i) if i.to_string() == "impl" || i.to_string() == "trait" => skip = true,
                    TokenTree::Group(g) if skip && g.delimiter() == Delimiter::Brace => skip = false,
                    _ if !skip && uses_self_type(&t) => return true,
                    _ => {}
                }
            }
            false
        }
        _ => false,
    }
}

/// One parameter `pattern: type`: the index of its `:` and its type.
pub fn param_type(part: &[TokenTree], site: Site) -> Result<(usize, ParamType), Error> {
    // pattern `:` type — the first lone `:` (not part of `::`)
    let colon = part.iter().enumerate().position(|(k, t)| {
        matches!(t, TokenTree::Punct(p) if p.as_char() == ':' && p.spacing() == Spacing::Alone)
            && !(k > 0 && matches!(&part[k - 1], TokenTree::Punct(q) if q.as_char() == ':'))
    });
    let Some(colon) = colon else {
        let span = part.first().map(|t| t.span()).unwrap_or_else(Span::call_site);
        return Err((span, match site {
            Site::Kernel => "`self` and patterns without a type are not kernel arguments".into(),
            Site::Accelerate => format!("#[accelerate] goes on free functions: `self` and patterns without a type \
                                         are not accelerate arguments; {}", crate::accelerate::SUPPORTED),
            Site::Autodiff => format!("a differentiated function is a free function: `self` and patterns without \
                                       a type are not its parameters; {}", crate::autodiff::SUPPORTED),
        }));
    };
    let ty: Vec<TokenTree> = without_invisible_groups(&part[colon + 1..]);
    let span = ty.first().map(|t| t.span()).unwrap_or_else(Span::call_site);
    let unsupported = || match site {
        Site::Kernel => {
            let text: String = ty.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(" ");
            (span, format!("unsupported kernel argument type `{text}`; {SUPPORTED}"))
        }
        Site::Accelerate => (span, format!("unsupported #[accelerate] argument type `{}`; {}",
                                           type_text(&ty), crate::accelerate::SUPPORTED)),
        Site::Autodiff => (span, format!("unsupported parameter type `{}` for a differentiated function; {}",
                                         type_text(&ty), crate::autodiff::SUPPORTED)),
    };
    let mut rest: &[TokenTree] = &ty;
    if rest.len() == 1 {
        return match &rest[0] {
            TokenTree::Ident(s) if SCALARS.contains(&s.to_string().as_str()) => Ok((colon, ParamType::Scalar(s.to_string()))),
            _ => Err(unsupported()),
        };
    }
    if rest.first().is_some_and(|t| is_punct(t, '*')) {
        let kind = match rest.get(1) {
            Some(k) if is_ident(k, "mut") => ArgKind::InOut,
            Some(k) if is_ident(k, "const") => ArgKind::In,
            _ => return Err(unsupported()),
        };
        return match &rest[2..] {
            [TokenTree::Ident(e)] if SCALARS.contains(&e.to_string().as_str()) => {
                Ok((colon, ParamType::Pointer { elem: e.to_string(), kind }))
            }
            // nightly's own example: `*mut [f64; 256]` (kernels)
            [TokenTree::Group(g)] if matches!(site, Site::Kernel) && g.delimiter() == Delimiter::Bracket => {
                match array_of(g) {
                    Some((elem, Some(len))) => Ok((colon, ParamType::Array { elem, len, kind, raw: true })),
                    _ => Err(unsupported()),
                }
            }
            _ => Err(unsupported()),
        };
    }
    if !rest.first().is_some_and(|t| is_punct(t, '&')) {
        return Err(unsupported());
    }
    rest = &rest[1..];
    if rest.first().is_some_and(|t| is_punct(t, '\'')) {
        rest = &rest[2..]; // a lifetime: `'a`
    }
    let kind = if rest.first().is_some_and(|t| is_ident(t, "mut")) {
        rest = &rest[1..];
        ArgKind::InOut
    } else {
        ArgKind::In
    };
    // `&T` / `&mut T` of a scalar (autodiff: std::autodiff's `x: &f32`)
    if let (Site::Autodiff, [TokenTree::Ident(s)]) = (site, rest) {
        if SCALARS.contains(&s.to_string().as_str()) {
            return Ok((colon, ParamType::Ref { elem: s.to_string(), kind }));
        }
    }
    let [TokenTree::Group(g)] = rest else { return Err(unsupported()) };
    if g.delimiter() != Delimiter::Bracket {
        return Err(unsupported());
    }
    match array_of(g) {
        Some((elem, None)) => Ok((colon, ParamType::Slice { elem, kind })),
        Some((elem, Some(len))) => Ok((colon, ParamType::Array { elem, len, kind, raw: false })),
        None => Err(unsupported()),
    }
}

/// `[T]` or `[T; N]` (T a scalar): T, and N as Rust prints it (a literal, a
/// path such as `sizes::M`, or a const expression).
fn array_of(g: &proc_macro::Group) -> Option<(String, Option<String>)> {
    let inner: Vec<TokenTree> = g.stream().into_iter().collect();
    let elem = match inner.first() {
        Some(TokenTree::Ident(s)) if SCALARS.contains(&s.to_string().as_str()) => s.to_string(),
        _ => return None,
    };
    match &inner[1..] {
        [] => Some((elem, None)),
        [semi, len @ ..] if is_punct(semi, ';') && !len.is_empty() => {
            Some((elem, Some(len.iter().cloned().collect::<TokenStream>().to_string())))
        }
        _ => None,
    }
}

/// The tokens with every invisible group (a `$t:ty` fragment of a
/// `macro_rules!` that generated the function) replaced by its contents, at
/// any depth: `&[$t]` reads as `&[f32]`.
fn without_invisible_groups(tokens: &[TokenTree]) -> Vec<TokenTree> {
    let mut out = Vec::new();
    for t in tokens {
        match t {
            TokenTree::Group(g) if g.delimiter() == Delimiter::None => {
                out.extend(without_invisible_groups(&g.stream().into_iter().collect::<Vec<_>>()))
            }
            TokenTree::Group(g) => {
                let inner = without_invisible_groups(&g.stream().into_iter().collect::<Vec<_>>());
                let mut flat = Group::new(g.delimiter(), inner.into_iter().collect());
                flat.set_span(g.span());
                out.push(TokenTree::Group(flat));
            }
            other => out.push(other.clone()),
        }
    }
    out
}

/// A type as a person writes it (`&Vec<f32>`, `&mut [f32; 4]`, `*const f32`),
/// for messages: tokens joined with spaces only between words.
pub fn type_text(ty: &[TokenTree]) -> String {
    let mut out = String::new();
    let mut prev_word = false; // the last token was an identifier or a literal
    for t in ty {
        let (text, word) = match t {
            TokenTree::Group(g) => {
                let inner = type_text(&g.stream().into_iter().collect::<Vec<_>>());
                let text = match g.delimiter() {
                    Delimiter::Parenthesis => format!("({inner})"),
                    Delimiter::Bracket => format!("[{inner}]"),
                    Delimiter::Brace => format!("{{{inner}}}"),
                    Delimiter::None => inner,
                };
                (text, false)
            }
            TokenTree::Punct(p) => {
                let c = p.as_char();
                let text = if c == ',' || c == ';' { format!("{c} ") } else { c.to_string() };
                (text, false)
            }
            other => (other.to_string(), true),
        };
        let space = prev_word && (word || matches!(t, TokenTree::Group(g) if g.delimiter() == Delimiter::Bracket)
                                  || matches!(t, TokenTree::Punct(p) if p.as_char() == '*' || p.as_char() == '&'));
        if space {
            out.push(' ');
        }
        out.push_str(&text);
        prev_word = word;
    }
    out.trim_end().to_string()
}

/// `a::b::k` → `a::b::__cargo_mlir_launch_k` (the span of `k` kept, so errors point at it).
pub fn launch_path(kernel: &[TokenTree]) -> Result<Vec<TokenTree>, Error> {
    let last = kernel.len().checked_sub(1).map(|k| &kernel[k]);
    let ok_path = kernel.iter().all(|t| matches!(t, TokenTree::Ident(_)) || is_punct(t, ':'));
    match last {
        Some(TokenTree::Ident(k)) if ok_path => {
            let mut out = kernel[..kernel.len() - 1].to_vec();
            out.push(Ident::new(&format!("{}{}", crate::abi::LAUNCH_PREFIX, crate::plain_name(k)), k.span()).into());
            Ok(out)
        }
        _ => Err((kernel.first().map(|t| t.span()).unwrap_or_else(Span::call_site),
                  "offload! `kernel` must name a function marked #[offload_kernel], e.g. `kernel = saxpy`".into())),
    }
}
