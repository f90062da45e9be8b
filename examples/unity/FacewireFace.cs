// Drives a SkinnedMeshRenderer's blendshapes from a facewire daemon's live frames.
//
// A background thread owns a NetMQ SUB socket (sockets never cross threads) and keeps only
// the newest AnimationFrame of the chosen stream; Update() applies it on Unity's main
// thread. Blendshapes are matched by name: facewire curve "jawOpen" drives the mesh shape
// named BlendshapePrefix + "jawOpen" (case-insensitive), so ARKit-named rigs (Apple,
// Ready Player Me, MetaHuman-style exports) work without a mapping table. Weights are 0-1
// on the wire and 0-100 in Unity. Head yaw/pitch/roll (radians) optionally turn HeadBone.
//
// Needs the NetMQ and Google.Protobuf packages (e.g. via NuGetForUnity) and Facewire.cs,
// generated from proto/facewire.proto (see README.md).
using System;
using System.Collections.Generic;
using System.Threading;
using Facewire.V1;
using NetMQ;
using NetMQ.Sockets;
using UnityEngine;

public class FacewireFace : MonoBehaviour
{
    [Tooltip("The daemon's PUB endpoint")]
    public string Endpoint = "tcp://127.0.0.1:5556";

    [Tooltip("Stream id to follow; empty = the newest stream that started")]
    public string StreamId = "";

    [Tooltip("The face mesh whose blendshapes are driven")]
    public SkinnedMeshRenderer Face;

    [Tooltip("Prefix of the mesh's blendshape names, e.g. \"blendShape1.\"")]
    public string BlendshapePrefix = "";

    [Tooltip("Optional head bone turned by headYaw/headPitch/headRoll")]
    public Transform HeadBone;

    readonly object gate = new object();
    AnimationFrame latest;          // newest frame of the followed stream (under gate)
    string[] names = new string[0]; // curve names of the followed stream (under gate)
    bool namesChanged;
    int[] shapeIndex = new int[0];  // curve -> mesh blendshape index, -1 = none
    Quaternion headRest;
    Thread worker;
    volatile bool running;

    void Start()
    {
        if (HeadBone != null) headRest = HeadBone.localRotation;
        AsyncIO.ForceDotNet.Force(); // NetMQ inside Unity's Mono runtime
        running = true;
        worker = new Thread(Receive) { IsBackground = true, Name = "facewire-sub" };
        worker.Start();
    }

    void Receive()
    {
        using (var sub = new SubscriberSocket())
        {
            sub.Options.Linger = TimeSpan.Zero;
            sub.Connect(Endpoint);
            sub.Subscribe(StreamId); // topic = stream id (prefix match)
            var parts = new List<byte[]>();
            string followed = StreamId;
            while (running)
            {
                if (!sub.TryReceiveMultipartBytes(TimeSpan.FromMilliseconds(100), ref parts, 2))
                    continue;
                var env = Envelope.Parser.ParseFrom(parts[1]);
                if (env.SchemaVersion != 1) continue; // another contract: never guess
                string topic = System.Text.Encoding.UTF8.GetString(parts[0]);
                switch (env.BodyCase)
                {
                    case Envelope.BodyOneofCase.StreamStarted:
                        if (StreamId.Length > 0 && topic != StreamId) break;
                        followed = topic;
                        lock (gate)
                        {
                            names = new string[env.StreamStarted.BlendshapeNames.Count];
                            env.StreamStarted.BlendshapeNames.CopyTo(names, 0);
                            namesChanged = true;
                        }
                        break;
                    case Envelope.BodyOneofCase.AnimationFrame:
                        if (topic == followed)
                            lock (gate) latest = env.AnimationFrame;
                        break;
                }
            }
        }
        NetMQConfig.Cleanup(false);
    }

    void Update()
    {
        AnimationFrame frame;
        lock (gate)
        {
            frame = latest;
            latest = null;
            if (namesChanged) { MapShapes(names); namesChanged = false; }
        }
        if (frame == null || Face == null) return;
        int n = Math.Min(frame.Weights.Count, shapeIndex.Length);
        for (int i = 0; i < n; i++)
            if (shapeIndex[i] >= 0)
                Face.SetBlendShapeWeight(shapeIndex[i], frame.Weights[i] * 100f);
        if (HeadBone != null && n > 54)
        {
            // Channels 52-54 are head yaw, pitch, roll in radians (see StreamStarted names).
            var euler = new Vector3(frame.Weights[53], frame.Weights[52], frame.Weights[54]);
            HeadBone.localRotation = headRest * Quaternion.Euler(euler * Mathf.Rad2Deg);
        }
    }

    void MapShapes(string[] curveNames)
    {
        var mesh = Face != null ? Face.sharedMesh : null;
        var byName = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        if (mesh != null)
            for (int s = 0; s < mesh.blendShapeCount; s++)
                byName[mesh.GetBlendShapeName(s)] = s;
        shapeIndex = new int[curveNames.Length];
        for (int i = 0; i < curveNames.Length; i++)
            shapeIndex[i] = byName.TryGetValue(BlendshapePrefix + curveNames[i], out var s) ? s : -1;
    }

    void OnDestroy()
    {
        running = false;
        worker?.Join(500);
    }
}
