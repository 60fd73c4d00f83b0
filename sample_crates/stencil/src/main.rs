fn main() {
    let (n, steps) = (512, 100);
    let grid = stencil::run(n, steps);
    println!("stencil n={n} steps={steps} checksum={:.6}", stencil::checksum(&grid));
}
