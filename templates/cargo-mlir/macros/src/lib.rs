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
//! Every name shared with cargo-mlir's Python side comes from `abi.rs`, the one
//! file the support crate's runtime uses too.

use proc_macro::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};

#[path = "../../src/abi.rs"]
mod abi;
mod accelerate;
mod parse;
use parse::{split_commas, ArgKind, Kernel, ParamType};

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

pub(crate) fn code(s: &str) -> TokenStream {
    s.parse().expect("cargo-mlir-macros generated invalid Rust")
}

/// `const _` reading cargo-mlir's environment for this unit, when cargo-mlir
/// builds it: rustc records `option_env!` reads in its dep-info, so cargo
/// rebuilds this crate when the kernel library made for it (or cargo-mlir's
/// configuration) changes. Empty under plain cargo.
pub(crate) fn unit_dep() -> String {
    match std::env::var(abi::ENV_UNIT) {
        Ok(unit) => format!("const _: [::core::option::Option<&str>; 2] = [::core::option_env!(\"{}{unit}\"), \
                             ::core::option_env!(\"{}\")];", abi::ENV_KERNELS_PREFIX, abi::ENV_CONFIG),
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
    let name = k.name.to_string();
    // #[no_mangle] symbols are program-wide: crate, name and position make them unique
    let krate = std::env::var("CARGO_CRATE_NAME").unwrap_or_else(|_| "crate".into());
    let unique = format!("{krate}_{name}_{}_{}", k.line, k.column);
    let mut entry_params = Vec::new();
    let mut entry_call = Vec::new();
    let mut launch_types = Vec::new();
    let mut flatten = Vec::new();
    let mut param_ptrs = Vec::new();
    let mut buffers = Vec::new();
    let mut sig = Vec::new();
    for (i, p) in k.params.iter().enumerate() {
        sig.push(p.ty.signature());
        launch_types.push(p.ty.signature());
        let (decl, call) = p.ty.entry_param(i);
        entry_params.push(decl);
        entry_call.push(call);
        let (stmts, locals) = p.ty.flatten(&format!("__a{i}"), &format!("__f{i}"));
        flatten.push(stmts);
        // `&` is copied to the device, `&mut` to and back (std::offload's rules)
        let buffer = match &p.ty {
            ParamType::Slice { kind, .. } => Some((format!("::core::mem::size_of_val(__a{i})"), kind)),
            ParamType::Array { elem, len, kind } => Some((format!("::core::mem::size_of::<[{elem}; {len}]>()"), kind)),
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
    let src = format!(r#"
        #[doc(hidden)]
        #[allow(non_snake_case, clippy::all)]
        #[unsafe(no_mangle)]
        pub extern "C" fn {entry}({entry_params}) {{
            #[allow(unused_unsafe)]
            unsafe {{ {name}({entry_call}) }}
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
            __CARGO_MLIR_SITE.launch(&__launch, &mut __params, &__buffers, || {name}({args}));
        }}
    "#,
        entry_params = entry_params.join(", "), entry_call = entry_call.join(", "),
        marker_len = marker.len(), marker_lit = Literal::byte_string(marker.as_bytes()),
        args_tuple = args.iter().map(|a| format!("{a}, ")).collect::<String>(),
        types_tuple = launch_types.iter().map(|t| format!("{t}, ")).collect::<String>(), flatten = flatten.join("\n"),
        nparams = ptrs.len(), ptrs = ptrs.join(", "), nbuf = buffers.len(), buffers = buffers.join(", "),
        args = args.join(", "));
    code(&src)
}

fn args_span_of(args: &[TokenTree]) -> Span {
    args.first().map(|t| t.span()).unwrap_or_else(Span::call_site)
}

const OFFLOAD_KEYS: [&str; 6] = ["kernel", "workgroup_dim", "thread_dim", "dyn_cache", "device", "args"];

/// `offload! { kernel = k, workgroup_dim = [..], thread_dim = [..], args = (..), dyn_cache = n, device = d }`
/// with the defaults of `core::offload::offload!`.
#[proc_macro]
pub fn offload(input: TokenStream) -> TokenStream {
    let mut fields: Vec<(String, Span, Tokens)> = Vec::new();
    for part in split_commas(input) {
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
    let Some((args_span, args)) = get("args") else {
        return error(Span::call_site(), "offload! needs `args = (...)`, the kernel's arguments as a tuple");
    };
    let launch_path = match parse::launch_path(&kernel) {
        Ok(p) => p,
        Err((span, msg)) => return error(span, &msg),
    };
    let arg_list = match args.as_slice() {
        [TokenTree::Group(g)] if g.delimiter() == Delimiter::Parenthesis => split_commas(g.stream()),
        _ => return error(args_span, "offload! `args` must be a tuple: `args = (a, &x[..], &mut y[..])`"),
    };
    let text = |k: &str, default: &str| get(k).map(|(_, v)| v.into_iter().collect::<TokenStream>().to_string())
        .unwrap_or_else(|| default.to_string());
    let device = match get("device") {
        Some((_, v)) => format!("::core::option::Option::Some(::core::convert::TryFrom::try_from({}).expect(\"offload!: device must be >= 0\"))",
                                v.into_iter().collect::<TokenStream>()),
        None => "::core::option::Option::None".to_string(),
    };
    let mut out: Tokens = code(&format!(
        "let __cargo_mlir_launch = ::cargo_mlir::offload::Launch::new({}, {}, ({}) as u32, {});",
        text("workgroup_dim", "[1, 1, 1]"), text("thread_dim", "[1, 1, 1]"), text("dyn_cache", "0"), device))
        .into_iter().collect();
    out.extend(launch_path);
    // the arguments travel as one tuple, so a wrong count is reported as
    // "expected a tuple with N elements" at the user's `args`
    let mut tuple: Tokens = Vec::new();
    for a in arg_list {
        tuple.extend(a);
        tuple.push(Punct::new(',', Spacing::Alone).into());
    }
    let mut tuple = Group::new(Delimiter::Parenthesis, tuple.into_iter().collect());
    tuple.set_span(args_span_of(&args));
    let mut call: Tokens = code("__cargo_mlir_launch,").into_iter().collect();
    call.push(tuple.into());
    out.push(Group::new(Delimiter::Parenthesis, call.into_iter().collect()).into());
    out.push(Punct::new(';', Spacing::Alone).into());
    [TokenTree::from(Group::new(Delimiter::Brace, out.into_iter().collect()))].into_iter().collect()
}
