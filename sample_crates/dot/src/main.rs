fn main() {
    let n = 1 << 22;
    let (x, y) = dot::inputs(n);
    println!("dot n={n} checksum={:.3}", dot::dot(&x, &y));
}
