use super::*;
use crate::data::CsrDataset;
use crate::model::{Linear, Loss, MatrixFactorization, Model, Softmax, Update};
use crate::model::{Sgns, UnigramTable};

fn trainer() -> Trainer {
    Trainer::new()
        .schedule(Schedule::Linear {
            initial: 0.5,
            samples: u64::from(u32::MAX) + 7,
        })
        .policy(Policy::HotCold {
            hot: 123_456_789,
            every: 987_654_321,
        })
        .seed(42)
}

fn sample() -> Checkpoint {
    let model = Linear::new(Loss::Hinge, 3)
        .bias(true)
        .bias_scale(0.01)
        .l2(1e-5, &CsrDataset::new(0));
    let c = Checkpoint::new(&model, &trainer(), 7, vec![1.0, -0.0, f32::MIN_POSITIVE, 3.5]);
    Checkpoint { average: true, ..c }
        .with_table("text", Table::Text("ü".into()))
        .with_table("strings", Table::Strings(vec!["u7".into(), String::new()]))
        .with_table("number", Table::U64(u64::MAX))
        .with_table("numbers", Table::U64s(vec![0, 5]))
        .with_table("float", Table::F64(-1e-300))
}

#[test]
fn round_trips_bit_for_bit_with_every_table_type() {
    let c = sample();
    let d = Checkpoint::from_bytes("x", &c.to_bytes()).unwrap();
    assert_eq!(d, c);
    assert_eq!(d.weights[1].to_bits(), (-0.0f32).to_bits());
    assert_eq!(
        d.schedule,
        trainer().get_schedule(),
        "a sample count past u32::MAX is kept"
    );
    assert_eq!(
        (d.text("x", "text").unwrap(), d.u64("x", "number").unwrap()),
        ("ü", u64::MAX)
    );
    assert!(d.u64s("x", "text").is_err(), "a table of another type is missing");
    let m = d.model::<Linear>("x").unwrap();
    assert_eq!(
        (m.get_loss(), m.n_features(), m.get_bias(), m.get_l2()),
        (Loss::Hinge, 3, true, 1e-5)
    );
}

#[test]
fn every_single_byte_flip_and_cut_is_caught() {
    let b = sample().to_bytes();
    for i in 0..b.len() {
        let mut c = b.clone();
        c[i] ^= 0x10;
        assert!(Checkpoint::from_bytes("x", &c).is_err(), "flip at {i}");
        assert!(Checkpoint::from_bytes("x", &b[..i]).is_err(), "cut at {i}");
    }
}

/// `c` with its parameter block replaced by what `write` encodes.
fn forged(c: &Checkpoint, write: impl FnOnce(&mut Encoder)) -> Checkpoint {
    let mut e = Encoder::new();
    write(&mut e);
    Checkpoint {
        params: e.into_bytes(),
        ..c.clone()
    }
}

#[test]
fn every_model_round_trips_and_refuses_forged_parameters_before_allocating() {
    let t = trainer();
    let lin = Checkpoint::new(&Linear::new(Loss::Squared, 2), &t, 1, vec![0.0; 2]);
    assert_eq!(lin.model::<Linear>("f").unwrap().n_features(), 2);
    // 2^60 features over 2 stored weights: refused before the L2 table is sized.
    let e = forged(&lin, |e| {
        e.u8(2).bool(false).f32(1.0).f32(0.5).u64(1 << 60);
    });
    assert!(e
        .model::<Linear>("f")
        .unwrap_err()
        .to_string()
        .contains("invalid dimension"));
    let e = forged(&lin, |e| {
        e.u8(2).bool(false).f32(f32::NAN).f32(0.0).u64(2);
    });
    assert!(e.model::<Linear>("f").unwrap_err().to_string().contains("bias scale"));
    // A checkpoint from before the adaptive update (no update byte) is SGD.
    let old = forged(&lin, |e| {
        e.u8(2).bool(false).f32(1.0).f32(0.0).u64(2);
    });
    assert_eq!(old.model::<Linear>("f").unwrap().get_update(), Update::Sgd);
    let e = forged(&lin, |e| {
        e.u8(2).bool(false).f32(1.0).f32(0.0).u64(2).u8(7);
    });
    assert!(e.model::<Linear>("f").unwrap_err().to_string().contains("update code"));
    // The adaptive model's accumulators are saved with its weights.
    let data = CsrDataset::new(2);
    let ada = Linear::new(Loss::Logistic, 2).bias(true).adaptive(&data);
    let c = Checkpoint::new(&ada, &t, 1, vec![0.5; 6]);
    let back = c.model::<Linear>("f").unwrap();
    assert_eq!((back.get_update(), back.n_weights()), (Update::Adaptive, 6));
    let e = forged(&c, |e| {
        e.u8(0).bool(true).f32(1.0).f32(0.0).u64(2).u8(0);
    });
    assert!(
        e.model::<Linear>("f").unwrap_err().to_string().contains("dimension"),
        "3 SGD slots, 6 stored"
    );
    let extra = forged(&lin, |e| {
        e.u8(2).bool(false).f32(1.0).f32(0.0).u64(2).u8(0).u8(0);
    });
    assert!(extra
        .model::<Linear>("f")
        .unwrap_err()
        .to_string()
        .contains("left over"));

    let sm = Softmax::new(3, 2).unwrap();
    let c = Checkpoint::new(&sm, &t, 1, vec![0.0; 9]);
    assert_eq!(c.model::<Softmax>("f").unwrap().n_classes(), 3);
    let e = forged(&c, |e| {
        e.u64(1 << 40).u64(2).f32(0.0);
    });
    assert!(e
        .model::<Softmax>("f")
        .unwrap_err()
        .to_string()
        .contains("number of classes"));

    let mf = MatrixFactorization::new(2, 1, 2)
        .unwrap()
        .global_mean(3.0)
        .clip(Some((1.0, 5.0)));
    let c = Checkpoint::new(&mf, &t, 1, vec![0.0; 9]);
    let back = c.model::<MatrixFactorization>("f").unwrap();
    assert_eq!(
        (back.rank(), back.get_global_mean(), back.get_clip()),
        (2, 3.0, Some((1.0, 5.0)))
    );
    let e = forged(&c, |e| {
        e.u64(u32::MAX.into()).u64(u32::MAX.into()).u64(2);
    });
    assert!(e
        .model::<MatrixFactorization>("f")
        .unwrap_err()
        .to_string()
        .contains("invalid dimension"));

    let sg = Sgns::new(3, 2, UnigramTable::new(&[4, 0, 1]).unwrap())
        .unwrap()
        .negatives(2)
        .seed(9);
    let c = Checkpoint::new(&sg, &t, 1, vec![0.0; 12]);
    assert_eq!(c.model::<Sgns>("f").unwrap(), sg);
    let e = forged(&c, |e| {
        e.u64(3).u64(2).u64(2).u64(0).u64(1 << 50);
    });
    assert!(e.model::<Sgns>("f").unwrap_err().to_string().contains("negative table"));
    let e = forged(&c, |e| {
        e.u64(3).u64(2).u64(2).u64(0).u64(1).u32(0).u32(7).f64(1.0);
    });
    assert!(e.model::<Sgns>("f").unwrap_err().to_string().contains("alias 7"));
    // A kind this build does not know loads, and is refused as a model.
    let other = Checkpoint {
        kind: "tree".into(),
        ..c
    };
    let back = Checkpoint::from_bytes("f", &other.to_bytes()).unwrap();
    assert!(back
        .model::<Sgns>("f")
        .unwrap_err()
        .to_string()
        .contains("holds a tree model, not sgns"));
}
