//! Procedural macros of the cargo-mlir support crate, written on `proc_macro`
//! alone (no syn/quote: crates.io is not a dependency of this crate).
//!
//! `#[offload_kernel]` keeps the function and adds, beside it:
//! - `__cargo_mlir_kernel_<name>`: a C-ABI entry taking the flattened
//!   parameters (a slice is pointer + length); the pipeline compiles it;
//! - `__cargo_mlir_marker_kernel_<name>`: a `#[used]` byte string that tells the
//!   pipeline the kernel's name and signature (read from bitcode, not source);
//! - `__cargo_mlir_launch_<name>`: what `offload!` calls.
//!
//! `#[accelerate]` (see `accelerate.rs`) keeps a host function and routes its
//! calls through the pipeline's direct entry when one is registered.
//!
//! `#[autodiff_forward]`/`#[autodiff_reverse]` (see `autodiff.rs`) keep a
//! function and add its derivative with std::autodiff's signature, whose code
//! the pipeline makes (docs/autodiff.md).
//!
//! Every name shared with cargo-mlir's Python side comes from `abi.rs`, the one
//! file the support crate's runtime uses too.

use proc_macro::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};

#[path = "../../src/abi.rs"]
mod abi;
mod accelerate;
mod autodiff;
mod parse;
use parse::{ArgKind, Kernel, ParamType};

type Tokens = Vec<TokenTree>;

pub(crate) fn error(span: Span, msg: &str) -> TokenStream {
    let mut out: Tokens = Vec::new();
    for (i, c) in [':', ':'].iter().enumerate() {
        out.push(Punct::new(*c, if i == 0 { Spacing::Joint } else { Spacing::Alone }).into());
    }
    out.push(Ident::new("core", span).into());
    out.push(Punct::new(':', Spacing::Joint).into());
    out.push(Punct::new(':', Spacing::Alone).into());
    out.push(Ident::new("compile_error", span).into());
    out.push(Punct::new('!', Spacing::Alone).into());
    let mut lit = Literal::string(msg);
    lit.set_span(span);
    // braces and no `;`: a complete item and a complete statement alike
    out.push(Group::new(Delimiter::Brace, TokenTree::from(lit).into()).into());
    out.into_iter().map(|mut t| { t.set_span(span); t }).collect()
}

/// What makes a marked function's `#[no_mangle]` symbols unique in the
/// program: crate, name (without `r#`), a short stable hash of the source file
/// (two files may have a function of one name at one line and column) and the
/// position: `<crate>_<name>_<hash>_<line>_<column>`.
pub(crate) fn unique_key(name: &str, span: Span) -> String {
    let krate = std::env::var("CARGO_CRATE_NAME").unwrap_or_else(|_| "crate".into());
    // FNV-1a, 32 bits: stable across builds and platforms (unlike DefaultHasher's seed policy)
    let mut h: u32 = 0x811c_9dc5;
    for b in span.file().bytes() {
        h = (h ^ b as u32).wrapping_mul(0x0100_0193);
    }
    format!("{krate}_{name}_{h:08x}_{}_{}", span.line(), span.column())
}

/// An identifier as it goes into symbol names and markers: without `r#`.
pub(crate) fn plain_name(id: &Ident) -> String {
    id.to_string().trim_start_matches("r#").to_string()
}

pub(crate) fn code(s: &str) -> TokenStream {
    s.parse().expect("cargo-mlir-macros generated invalid Rust")
}

/// `const _` reading cargo-mlir's environment for this unit, when cargo-mlir
/// builds it: rustc records `option_env!` reads in its dep-info, so cargo
/// rebuilds this crate when cargo-mlir's configuration changes or its device
/// work must be redone (a new kernel library is only linked again, by the
/// artifacts that link it). Empty under plain cargo.
pub(crate) fn unit_dep() -> String {
    match std::env::var(abi::ENV_UNIT) {
        Ok(unit) => format!("const _: [::core::option::Option<&str>; 2] = [::core::option_env!(\"{}{unit}\"), \
                             ::core::option_env!(\"{}\")];", abi::ENV_RETRY_PREFIX, abi::ENV_CONFIG),
        Err(_) => String::new(),
    }
}

/// Tell cargo-mlir's rustc wrapper that this unit has a marked function, so it
/// runs the device compile: a file named after the unit in the directory the
/// wrapper gives (nothing under plain cargo, or in the device compile itself).
pub(crate) fn record_marked() {
    if let (Some(dir), Some(unit)) = (std::env::var_os(abi::ENV_MARKED_DIR), std::env::var_os(abi::ENV_UNIT)) {
        let _ = std::fs::write(std::path::Path::new(&dir).join(unit), b"");
    }
}

/// `#[accelerate]`, `#[accelerate(exact)]`, `#[accelerate(reassociate)]`: route
/// this host function through the MLIR pipeline (see `accelerate.rs`).
#[proc_macro_attribute]
pub fn accelerate(attr: TokenStream, item: TokenStream) -> TokenStream {
    accelerate::expand(attr, item)
}

/// `#[autodiff_forward(NAME, [WIDTH,] ACTIVITY…, RETURN_ACTIVITY)]`: std::autodiff's
/// forward mode (activities Const, Dual, DualOnly); see `autodiff.rs`.
#[proc_macro_attribute]
pub fn autodiff_forward(attr: TokenStream, item: TokenStream) -> TokenStream {
    autodiff::expand(autodiff::Mode::Forward, attr, item)
}

/// `#[autodiff_reverse(NAME, ACTIVITY…, RETURN_ACTIVITY)]`: std::autodiff's reverse
/// mode (activities Const, Active, Duplicated, DuplicatedOnly; return Const,
/// Active, ActiveOnly); see `autodiff.rs`.
#[proc_macro_attribute]
pub fn autodiff_reverse(attr: TokenStream, item: TokenStream) -> TokenStream {
    autodiff::expand(autodiff::Mode::Reverse, attr, item)
}

#[proc_macro_attribute]
pub fn offload_kernel(attr: TokenStream, item: TokenStream) -> TokenStream {
    record_marked();
    if let Some(t) = attr.into_iter().next() {
        return error(t.span(), "#[offload_kernel] takes no arguments");
    }
    let kernel = match parse::kernel(item.clone()) {
        Ok(k) => k,
        Err((span, msg)) => {
            let mut out = error(span, &msg);
            out.extend(item);
            return out;
        }
    };
    let mut out = item;
    out.extend(expand_kernel(&kernel));
    out
}

fn expand_kernel(k: &Kernel) -> TokenStream {
    // the Rust name (`r#match` stays raw in code) and the one in symbols and markers
    let call_name = k.name.to_string();
    let name = plain_name(&k.name);
    // #[no_mangle] symbols are program-wide: crate, name, file and position make them unique
    let unique = unique_key(&name, k.name.span());
    let mut entry_params = Vec::new();
    let mut entry_call = Vec::new();
    let mut launch_types = Vec::new();
    let mut flatten = Vec::new();
    let mut param_ptrs = Vec::new();
    let mut buffers = Vec::new();
    let mut sig = Vec::new();
    for (i, p) in k.params.iter().enumerate() {
        // a raw pointer moves its pointee as a reference would (std::offload):
        // the marker says so, with the same flattened form (one pointer)
        sig.push(match &p.ty {
            ParamType::Pointer { elem, kind } => ParamType::Array { elem: elem.clone(), len: "1".into(), kind: *kind, raw: false }.signature(),
            ParamType::Array { elem, len, kind, raw: true } =>
                ParamType::Array { elem: elem.clone(), len: len.clone(), kind: *kind, raw: false }.signature(),
            other => other.signature(),
        });
        launch_types.push(p.ty.signature());
        let (decl, call) = p.ty.entry_param(i);
        entry_params.push(decl);
        entry_call.push(call);
        let (stmts, locals) = p.ty.flatten(&format!("__a{i}"), &format!("__f{i}"));
        flatten.push(stmts);
        // `&` is copied to the device, `&mut` to and back (std::offload's rules)
        let buffer = match &p.ty {
            ParamType::Slice { kind, .. } => Some((format!("::core::mem::size_of_val(__a{i})"), kind)),
            ParamType::Array { elem, len, kind, .. } => Some((format!("::core::mem::size_of::<[{elem}; {len}]>()"), kind)),
            ParamType::Pointer { elem, kind } => Some((format!("::core::mem::size_of::<{elem}>()"), kind)),
            _ => None,
        };
        if let Some((bytes, kind)) = buffer {
            buffers.push(format!("::cargo_mlir::runtime::Buffer {{ param: {}, bytes: {bytes}, copy_back: {} }}",
                                 param_ptrs.len(), matches!(kind, ArgKind::InOut)));
        }
        param_ptrs.extend(locals);
    }
    let vis = &k.vis;
    let args: Vec<String> = (0..k.params.len()).map(|i| format!("__a{i}")).collect();
    // v2: no return type, no flags
    let marker = format!("{};kernel;{name};{}{unique};{};;;{}:{}\0",
                         abi::MARKER_MAGIC, abi::KERNEL_PREFIX, sig.join(","), k.file, k.line);
    let ptrs: Vec<String> = param_ptrs.iter()
        .map(|f| format!("&mut {f} as *mut _ as *mut ::core::ffi::c_void")).collect();
    let unit_dep = unit_dep();
    let entry = format!("{}{unique}", abi::KERNEL_PREFIX);
    let marker_sym = format!("{}kernel_{unique}", abi::MARKER_PREFIX);
    let launch = format!("{}{name}", abi::LAUNCH_PREFIX);
    let run = if k.workgroups {
        // the fibers of a workgroup each run the kernel, from copies of the flattened
        // arguments (no `&mut` of the caller's is held across fibers), rebuilt as the
        // entry rebuilds them (a panic unwinds to the `offload!`, as on the grid loop)
        let rebuild: String = param_ptrs.iter()
            .map(|f| format!("let {} = {f};", f.replacen("__f", "__p", 1))).collect();
        format!("__CARGO_MLIR_SITE.launch_workgroups(&__launch, &mut __params, &__buffers, move || {{ {rebuild} \
                 #[allow(unused_unsafe)] unsafe {{ {call_name}({entry_call}) }} }});",
                entry_call = entry_call.join(", "))
    } else {
        format!("__CARGO_MLIR_SITE.launch(&__launch, &mut __params, &__buffers, || {call_name}({args}));",
                args = args.join(", "))
    };
    let src = format!(r#"
        #[doc(hidden)]
        #[allow(non_snake_case, clippy::all)]
        #[unsafe(no_mangle)]
        pub extern "C" fn {entry}({entry_params}) {{
            #[allow(unused_unsafe)]
            unsafe {{ {call_name}({entry_call}) }}
        }}

        #[doc(hidden)]
        #[used]
        #[unsafe(no_mangle)]
        #[allow(non_upper_case_globals)]
        static {marker_sym}: [u8; {marker_len}] = *{marker_lit};

        {unit_dep}

        #[doc(hidden)]
        #[allow(non_snake_case, unused_mut, clippy::all)]
        #[inline]
        {vis} fn {launch}(__launch: ::cargo_mlir::offload::Launch, ({args_tuple}): ({types_tuple})) {{
            // the registry lookup, once per program
            static __CARGO_MLIR_SITE: ::cargo_mlir::runtime::Site = ::cargo_mlir::runtime::Site::new("{entry}", "{name}");
            {flatten}
            let mut __params: [*mut ::core::ffi::c_void; {nparams}] = [{ptrs}];
            let __buffers: [::cargo_mlir::runtime::Buffer; {nbuf}] = [{buffers}];
            {run}
        }}
    "#,
        entry_params = entry_params.join(", "), entry_call = entry_call.join(", "),
        marker_len = marker.len(), marker_lit = Literal::byte_string(marker.as_bytes()),
        args_tuple = args.iter().map(|a| format!("{a}, ")).collect::<String>(),
        types_tuple = launch_types.iter().map(|t| format!("{t}, ")).collect::<String>(), flatten = flatten.join("\n"),
        nparams = ptrs.len(), ptrs = ptrs.join(", "), nbuf = buffers.len(), buffers = buffers.join(", "),
        run = run);
    code(&src)
}

const OFFLOAD_KEYS: [&str; 6] = ["kernel", "workgroup_dim", "thread_dim", "dyn_cache", "device", "args"];

/// Whether `part` starts `name = value` (a lone `=`, not `==`).
fn starts_field(part: &[TokenTree]) -> bool {
    matches!(part, [TokenTree::Ident(_), TokenTree::Punct(p), ..] if p.as_char() == '=' && p.spacing() == Spacing::Alone)
}

/// `offload!`'s input as `name = value` fields: split at top-level commas, a
/// piece that does not start a new field (a comma inside a turbofish, after a
/// `<` comparison, …) belonging to the value before it.
fn offload_fields(input: TokenStream) -> Vec<Vec<TokenTree>> {
    let mut parts: Vec<Vec<TokenTree>> = Vec::new();
    let mut cur: Vec<TokenTree> = Vec::new();
    let mut pending_comma: Option<TokenTree> = None;
    let flush = |parts: &mut Vec<Vec<TokenTree>>, cur: Vec<TokenTree>, comma: Option<TokenTree>| {
        if cur.is_empty() {
            return;
        }
        match parts.last_mut() {
            Some(last) if !starts_field(&cur) => {
                last.extend(comma);
                last.extend(cur);
            }
            _ => parts.push(cur),
        }
    };
    for t in input {
        if matches!(&t, TokenTree::Punct(p) if p.as_char() == ',') {
            flush(&mut parts, std::mem::take(&mut cur), pending_comma.take());
            pending_comma = Some(t);
            continue;
        }
        cur.push(t);
    }
    flush(&mut parts, cur, pending_comma);
    parts
}

/// `tokens` as one group, spanned at the tokens, so type errors point at the user's expression.
fn paren(value: &[TokenTree]) -> TokenTree {
    // an invisible group: keeps the expression whole without an `unused_parens` warning
    let mut g = Group::new(Delimiter::None, value.iter().cloned().collect());
    g.set_span(value.first().map(|t| t.span()).unwrap_or_else(Span::call_site));
    g.into()
}

/// `offload! { kernel = k, workgroup_dim = [..], thread_dim = [..], args = (..), dyn_cache = n, device = d }`
/// with the defaults and types of `core::offload::offload!`: `workgroup_dim` and
/// `thread_dim` are `[u32; 3]`, `dyn_cache` a `u32`, `device` a constant `i32 >= 0`.
#[proc_macro]
pub fn offload(input: TokenStream) -> TokenStream {
    let mut fields: Vec<(String, Span, Tokens)> = Vec::new();
    for part in offload_fields(input) {
        let mut it = part.into_iter();
        let (key, span) = match (it.next(), it.next()) {
            (Some(TokenTree::Ident(k)), Some(TokenTree::Punct(p))) if p.as_char() == '=' => (k.to_string(), k.span()),
            (Some(t), _) => return error(t.span(), "expected `name = value` (names: kernel, workgroup_dim, thread_dim, dyn_cache, device, args)"),
            (None, _) => continue,
        };
        if !OFFLOAD_KEYS.contains(&key.as_str()) {
            return error(span, &format!("unknown offload! argument `{key}`; expected one of: {}", OFFLOAD_KEYS.join(", ")));
        }
        if fields.iter().any(|(k, _, _)| *k == key) {
            return error(span, &format!("duplicate offload! argument `{key}`"));
        }
        let value: Tokens = it.collect();
        if value.is_empty() {
            return error(span, &format!("offload! argument `{key}` has no value"));
        }
        fields.push((key, span, value));
    }
    let get = |k: &str| fields.iter().find(|(n, _, _)| n == k).map(|(_, s, v)| (*s, v.clone()));
    let Some((_, kernel)) = get("kernel") else {
        return error(Span::call_site(), "offload! needs `kernel = <function marked #[offload_kernel]>`");
    };
    let Some((_, args)) = get("args") else {
        return error(Span::call_site(), "offload! needs `args = (...)`, the kernel's arguments as a tuple");
    };
    let launch_path = match parse::launch_path(&kernel) {
        Ok(p) => p,
        Err((span, msg)) => return error(span, &msg),
    };
    let tuple = match args.as_slice() {
        [TokenTree::Group(g)] if g.delimiter() == Delimiter::Parenthesis => g.clone(),
        _ => return error(args[0].span(), "offload! `args` must be a tuple: `args = (a, &x[..], &mut y[..])`"),
    };
    // the arguments travel as one tuple (a trailing comma makes `(x)` one), so
    // a wrong count is reported as "expected a tuple with N elements" at `args`
    let mut elems: Tokens = tuple.stream().into_iter().collect();
    if elems.last().is_some_and(|t| !matches!(t, TokenTree::Punct(p) if p.as_char() == ',')) {
        elems.push(Punct::new(',', Spacing::Alone).into());
    }
    let mut tuple_arg = Group::new(Delimiter::Parenthesis, elems.into_iter().collect());
    tuple_arg.set_span(tuple.span());

    // `let` with the nightly types: a mismatch is an error at the user's expression
    let mut out: Tokens = Vec::new();
    let typed = |out: &mut Tokens, var: &str, ty: &str, key: &str, default: &str| {
        out.extend(code(&format!("let {var}: {ty} =")));
        match get(key) {
            Some((_, v)) => out.push(paren(&v)),
            None => out.extend(code(default)),
        }
        out.push(Punct::new(';', Spacing::Alone).into());
    };
    typed(&mut out, "__cargo_mlir_wg", "[u32; 3]", "workgroup_dim", "[1, 1, 1]");
    typed(&mut out, "__cargo_mlir_th", "[u32; 3]", "thread_dim", "[1, 1, 1]");
    typed(&mut out, "__cargo_mlir_dc", "u32", "dyn_cache", "0");
    match get("device") {
        // a constant, checked at compile time, as nightly's `device`
        Some((_, v)) => {
            let span = v[0].span();
            let mut body: Tokens = code("let __cargo_mlir_d: i32 =").into_iter().collect();
            body.push(paren(&v));
            body.extend(code(";"));
            let check: TokenStream = code("::core::assert!(__cargo_mlir_d >= 0, \"offload!: `device` must be >= 0\"); \
                                          __cargo_mlir_d as u32");
            body.extend(check.into_iter().map(|mut t| { t.set_span(span); t }));
            out.extend(code("let __cargo_mlir_dev: ::core::option::Option<u32> = ::core::option::Option::Some"));
            let mut konst: Tokens = vec![Ident::new("const", span).into()];
            let mut block = Group::new(Delimiter::Brace, body.into_iter().collect());
            block.set_span(span);
            konst.push(block.into());
            out.push(Group::new(Delimiter::Parenthesis, konst.into_iter().collect()).into());
            out.extend(code(";"));
        }
        None => out.extend(code("let __cargo_mlir_dev: ::core::option::Option<u32> = ::core::option::Option::None;")),
    }
    out.extend(code("let __cargo_mlir_launch = ::cargo_mlir::offload::Launch::new(__cargo_mlir_wg, \
                     __cargo_mlir_th, __cargo_mlir_dc, __cargo_mlir_dev);"));
    out.extend(launch_path);
    let mut call: Tokens = code("__cargo_mlir_launch,").into_iter().collect();
    call.push(tuple_arg.into());
    out.push(Group::new(Delimiter::Parenthesis, call.into_iter().collect()).into());
    out.push(Punct::new(';', Spacing::Alone).into());
    [TokenTree::from(Group::new(Delimiter::Brace, out.into_iter().collect()))].into_iter().collect()
}
