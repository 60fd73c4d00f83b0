use mlp::*;

fn main() {
    let mut rng = Rng::new(42);
    let (x, y) = data_set(256, &mut rng);
    let mut params = init(&mut rng);
    let mut grad = vec![0.0f32; P];
    let epochs = 300;
    let first = loss(&params, &x, &y);
    println!("mlp: {P} parameters, 256 samples, {epochs} epochs of gradient descent");
    for epoch in 0..=epochs {
        let l = loss_and_gradient(&params, &x, &y, &mut grad);
        if epoch % 50 == 0 {
            println!("epoch {epoch:>4}  loss {l:.6}");
        }
        update(0.1, &mut params, &grad);
    }
    let last = loss(&params, &x, &y);
    println!("loss fell from {first:.6} to {last:.6}");
    assert!(last < first * 0.25, "training did not reduce the loss enough");
}
