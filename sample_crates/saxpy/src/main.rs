fn main() {
    let (x, mut y) = saxpy::inputs(saxpy::N);
    saxpy::run(3.0, &x, &mut y);
    println!("saxpy n={} checksum={:.1}", saxpy::N, saxpy::checksum(&y));
}
